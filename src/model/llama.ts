/**
 * The llama family (Llama 2/3, Mistral, TinyLlama, SmolLM; Qwen2, Qwen3, Phi-3, Gemma 2/3), written once against
 * `Backend`; what differs per architecture is read by family.ts.
 * Phi-3 stores q/k/v as one `attn_qkv` matrix and gate/up as one `ffn_up` of 2·n_ff rows (gate first);
 * those are loaded once and used through row views, so the graph below is the same.
 *
 * Per layer, in PyTorch terms:
 *   h = rms_norm(x) * attn_norm
 *   q, k, v = h @ Wq.T, h @ Wk.T, h @ Wv.T
 *     qwen2: q, k, v += bq, bk, bv            (biases)
 *     qwen3: q, k = rms_norm(q) * q_norm, rms_norm(k) * k_norm   (per head, over head_dim)
 *   q, k = rope(q, pos), rope(k, pos)         (llama: adjacent pairs; qwen2/3: NeoX halves;
 *                                              qwen2vl: M-RoPE over (t, h, w) positions, see `mropePositions`)
 *   o = attention(q, cache ∪ {k, v}) @ Wo.T   (gemma: sliding window on some layers, soft-capped scores)
 *   x = x + o                                 (gemma: x + rms_norm(o) * post_attention_norm)
 *   h = rms_norm(x) * ffn_norm
 *   o = (act(h @ Wgate.T) * (h @ Wup.T)) @ Wdown.T     act: silu, gemma gelu
 *   x = x + o                                 (gemma: x + rms_norm(o) * post_ffw_norm)
 * logits = (rms_norm(x) * output_norm) @ Wout.T   (gemma2: soft-capped; gemma: x starts as √n_embd · embedding)
 */
import type { AttentionParams, Backend, RopeParams, Tensor } from '../backend/backend.ts';
import { RopeMode } from '../backend/backend.ts';
import type { GgufFile } from '../gguf/reader.ts';
import { GgmlType } from '../gguf/types.ts';
import { KvCache } from '../kv/cache.ts';
import { familyFeatures, type FamilyFeatures } from './family.ts';
import { readHParams, type HParams } from './hparams.ts';
import type { Batch, Model, ModelOptions } from './model.ts';
import { WeightLoader } from './weights.ts';

interface LayerWeights {
  attnNorm: Tensor; // f32 [n_embd]
  wq: Tensor; // [n_embd] → [n_head·head_dim]   (GGUF dims [n_embd, n_head·head_dim])
  wk: Tensor; // [n_embd] → [n_head_kv·head_dim]
  wv: Tensor; // [n_embd] → [n_head_kv·head_dim]
  wo: Tensor; // [n_head·head_dim] → [n_embd]
  bq: Tensor | null; // f32 [n_head·head_dim]   (qwen2)
  bk: Tensor | null; // f32 [n_head_kv·head_dim]
  bv: Tensor | null; // f32 [n_head_kv·head_dim]
  qNorm: Tensor | null; // f32 [head_dim]        (qwen3, gemma3)
  kNorm: Tensor | null; // f32 [head_dim]
  attnPostNorm: Tensor | null; // f32 [n_embd]   (gemma)
  ffnPostNorm: Tensor | null; // f32 [n_embd]
  ffnNorm: Tensor; // f32 [n_embd]
  wGate: Tensor; // [n_embd] → [n_ff]
  wUp: Tensor; // [n_embd] → [n_ff]
  wDown: Tensor; // [n_ff] → [n_embd]
}

/** Activation buffers, allocated once at load for `maxTokens` rows. */
interface RunState {
  tokens: Tensor; // i32 [max_tok]
  pos: Tensor; // i32 [max_tok]
  x: Tensor; // f32 [max_tok][n_embd]       residual stream
  h: Tensor; // f32 [max_tok][n_embd]       normed input of a sub-block
  q: Tensor; // f32 [max_tok][n_head][head_dim]
  k: Tensor; // f32 [max_tok][n_head_kv][head_dim]
  v: Tensor; // f32 [max_tok][n_head_kv][head_dim]
  att: Tensor; // f32 [max_tok][n_head][head_dim]
  o: Tensor; // f32 [max_tok][n_embd]       output of a sub-block before the residual add
  gate: Tensor; // f32 [max_tok][n_ff]
  up: Tensor; // f32 [max_tok][n_ff]
  xRow: Tensor[]; // views: row i of x
  hRow: Tensor[]; // views: row i of h
  // Views for one sequence's rows in a batch (continuous batching): row i of q, k, v, att, pos. [max_tok] each.
  qRow: Tensor[];
  kRow: Tensor[];
  vRow: Tensor[];
  attRow: Tensor[];
  posRow: Tensor[];
  logits: Tensor; // f32 [max(logit_rows, max_seqs)][n_vocab]
}

export class LlamaModel implements Model {
  readonly kv: KvCache;
  private readonly tokensView: Int32Array;
  private readonly posView: Int32Array;
  private readonly logitsView: Float32Array;
  private readonly ropeQ: RopeParams[]; // per layer
  private readonly ropeK: RopeParams[];
  private readonly attn: AttentionParams[];
  /** The one-sequence batch `forward` runs (table set 0). */
  private readonly one: Batch = { nSeq: 1, rowStart: new Int32Array(1), rowCount: new Int32Array(1), nKv: new Int32Array(1), tableSet: new Int32Array(1) };
  /** Embedding input (image soft tokens): see `enableEmbeddingInput` (vision/text-input.ts documents the use). attnPosRow: row views of attnPos. */
  private embIn: { rows: Tensor[]; attnPos: Tensor; attnPosRow: Tensor[]; view: Float32Array; attnPosView: Int32Array } | null = null;
  /** Rows `[start, start+n)` of the next forward take `inputEmbeddings` rows instead of token embeddings (unscaled, as llama.cpp); `bidirectional`: they attend to each other (Gemma 3 images). */
  embeddingRows: { start: number; n: number; bidirectional: boolean } | null = null;
  /**
   * qwen2vl (M-RoPE): i32 `[4][nTok]` RoPE positions (t, h, w, e; stream k of row i at `k·nTok + i`) of the next
   * forward, read when `mropeExplicit` is set (image rows: t fixed, (h, w) the patch grid; llama.cpp's layout);
   * otherwise filled from `inputPositions` as (p, p, p, 0), which makes M-RoPE the 1D NeoX RoPE. Null for 1D models.
   * KV slots and the causal order stay `inputPositions`.
   */
  readonly mropePositions: Int32Array | null = null;
  /** Set after writing `mropePositions`; cleared by the next forward. */
  mropeExplicit = false;
  /**
   * qwen2vl: per KV table set, added to `inputPositions` where the M-RoPE positions are derived from them (the
   * (p, p, p, 0) default): text after an image goes on at the image's start + max(rows, cols), not at its KV slot
   * (transformers' `rope_deltas`). i32 [table sets], 0 unless an image prompt set it; null for 1D models.
   */
  readonly mropeDelta: Int32Array | null = null;
  private readonly mropePos: Tensor | null = null; // i32 [4·max_tok]

  private constructor(
    readonly hp: HParams,
    private readonly be: Backend,
    private readonly tokEmbd: Tensor, // [n_vocab][n_embd]
    private readonly outputNorm: Tensor, // f32 [n_embd]
    private readonly output: Tensor, // [n_vocab][n_embd] (token_embd when tied)
    private readonly layers: LayerWeights[],
    private readonly s: RunState,
    readonly maxTokens: number,
    readonly logitRows: number,
    kv: KvCache,
    private readonly fam: FamilyFeatures,
    readonly maxSeqs: number,
  ) {
    this.kv = kv;
    this.tokensView = be.i32(s.tokens);
    this.posView = be.i32(s.pos);
    this.logitsView = be.f32(s.logits);
    const sections = fam.ropeSections ?? undefined;
    const mode = sections ? RopeMode.MROPE : fam.neoxRope ? RopeMode.NEOX : RopeMode.NORMAL;
    this.ropeQ = fam.layers.map((l) => ({ nHead: hp.nHead, headDim: hp.headDim, nRot: hp.nRot, mode, freqBase: l.ropeBase, freqScale: l.ropeScale, freqFactors: null, sections }));
    if (sections) {
      this.mropePos = be.buffer(GgmlType.I32, [4 * maxTokens]);
      this.mropePositions = be.i32(this.mropePos);
      this.mropeDelta = new Int32Array(kv.tableSets);
    }
    this.ropeK = this.ropeQ.map((r) => ({ ...r, nHead: hp.nHeadKv }));
    this.attn = fam.layers.map((l) => ({ nHead: hp.nHead, nHeadKv: hp.nHeadKv, headDim: hp.headDim, scale: fam.attnScale, window: l.window, softcap: fam.attnSoftcap }));
  }

  static async load(file: GgufFile, be: Backend, opts: ModelOptions): Promise<LlamaModel> {
    const hp = readHParams(file, file.metadata.get('general.architecture') as string);
    const w = new WeightLoader(file, be);
    const { nEmbd, nVocab, nHead, nHeadKv, headDim, nFf } = hp;
    const qDim = nHead * headDim;
    const kvDim = nHeadKv * headDim;
    const tokEmbd = await w.load('token_embd.weight', [nEmbd, nVocab]);
    const outputNorm = await w.load('output_norm.weight', [nEmbd]);
    const output = (await w.loadOptional('output.weight', [nEmbd, nVocab])) ?? tokEmbd;
    const layers: LayerWeights[] = [];
    for (let il = 0; il < hp.nLayer; il++) {
      be.group?.(il);
      const p = `blk.${il}.`;
      // Fused projections (phi3): one tensor, row views for the parts.
      const qkv = w.has(p + 'attn_qkv.weight') ? await w.load(p + 'attn_qkv.weight', [nEmbd, qDim + 2 * kvDim]) : null;
      const gateUp = w.has(p + 'ffn_gate.weight') ? null : await w.load(p + 'ffn_up.weight', [nEmbd, 2 * nFf]);
      layers.push({
        attnNorm: await w.load(p + 'attn_norm.weight', [nEmbd]),
        wq: qkv ? be.rows(qkv, 0, qDim) : await w.load(p + 'attn_q.weight', [nEmbd, qDim]),
        wk: qkv ? be.rows(qkv, qDim, kvDim) : await w.load(p + 'attn_k.weight', [nEmbd, kvDim]),
        wv: qkv ? be.rows(qkv, qDim + kvDim, kvDim) : await w.load(p + 'attn_v.weight', [nEmbd, kvDim]),
        wo: await w.load(p + 'attn_output.weight', [qDim, nEmbd]),
        bq: await w.loadOptional(p + 'attn_q.bias', [qDim]),
        bk: await w.loadOptional(p + 'attn_k.bias', [kvDim]),
        bv: await w.loadOptional(p + 'attn_v.bias', [kvDim]),
        qNorm: await w.loadOptional(p + 'attn_q_norm.weight', [headDim]),
        kNorm: await w.loadOptional(p + 'attn_k_norm.weight', [headDim]),
        attnPostNorm: await w.loadOptional(p + 'post_attention_norm.weight', [nEmbd]),
        ffnPostNorm: await w.loadOptional(p + 'post_ffw_norm.weight', [nEmbd]),
        ffnNorm: await w.load(p + 'ffn_norm.weight', [nEmbd]),
        wGate: gateUp ? be.rows(gateUp, 0, nFf) : await w.load(p + 'ffn_gate.weight', [nEmbd, nFf]),
        wUp: gateUp ? be.rows(gateUp, nFf, nFf) : await w.load(p + 'ffn_up.weight', [nEmbd, nFf]),
        wDown: await w.load(p + 'ffn_down.weight', [nFf, nEmbd]),
      });
    }

    const nCtx = opts.nCtx;
    const maxTok = Math.max(1, Math.min(opts.maxTokens, nCtx));
    const logitRows = Math.max(1, Math.min(opts.logitRows ?? 1, maxTok));
    const maxSeqs = Math.max(1, Math.min(opts.maxSeqs ?? 1, maxTok));
    const f32 = (...dims: number[]) => be.buffer(GgmlType.F32, dims);
    const x = f32(nEmbd, maxTok);
    const h = f32(nEmbd, maxTok);
    const q = f32(qDim, maxTok);
    const k = f32(kvDim, maxTok);
    const v = f32(kvDim, maxTok);
    const att = f32(qDim, maxTok);
    const pos = be.buffer(GgmlType.I32, [maxTok]);
    const rowsOf = (t: Tensor) => Array.from({ length: maxTok }, (_, i) => be.rows(t, i, 1));
    const s: RunState = {
      tokens: be.buffer(GgmlType.I32, [maxTok]),
      pos,
      x,
      h,
      q,
      k,
      v,
      att,
      o: f32(nEmbd, maxTok),
      gate: f32(nFf, maxTok),
      up: f32(nFf, maxTok),
      xRow: rowsOf(x),
      hRow: rowsOf(h),
      qRow: rowsOf(q),
      kRow: rowsOf(k),
      vRow: rowsOf(v),
      attRow: rowsOf(att),
      posRow: rowsOf(pos),
      logits: f32(nVocab, Math.max(logitRows, maxSeqs)),
    };
    be.reserve({ maxTokens: maxTok, maxRowLen: Math.max(nEmbd, nFf, qDim), maxKv: nCtx });
    const kv = new KvCache(be, {
      nLayer: hp.nLayer, nHeadKv, headDim, nCtx, kvType: opts.kvType, vType: opts.vType, pageSize: opts.kvPageSize, hotBytes: opts.kvHotBytes, hotContexts: opts.kvHotContexts,
      tableSets: maxSeqs > 1 ? maxSeqs + 1 : 1,
    });
    return new LlamaModel(hp, be, tokEmbd, outputNorm, output, layers, s, maxTok, logitRows, kv, familyFeatures(file, hp), maxSeqs);
  }

  /** Input token ids of the next batch, i32 [max_tokens]: write before `forward`. */
  get inputTokens(): Int32Array {
    return this.tokensView;
  }

  /** Positions of the next batch, i32 [max_tokens]. */
  get inputPositions(): Int32Array {
    return this.posView;
  }

  /** Allocates (once) and returns the embedding input rows, f32 [max_tokens][n_embd]; call at load time. */
  enableEmbeddingInput(): Float32Array {
    if (!this.embIn) {
      const e = this.be.buffer(GgmlType.F32, [this.hp.nEmbd, this.maxTokens]);
      const attnPos = this.be.buffer(GgmlType.I32, [this.maxTokens]); // i32 [max_tok]: attention positions of a bidirectional range
      const rows = Array.from({ length: this.maxTokens }, (_, i) => this.be.rows(e, i, 1));
      const attnPosRow = Array.from({ length: this.maxTokens }, (_, i) => this.be.rows(attnPos, i, 1));
      this.embIn = { rows, attnPos, attnPosRow, view: this.be.f32(e), attnPosView: this.be.i32(attnPos) };
    }
    return this.embIn.view;
  }

  /** Logits of the last forward, f32 [logit_rows][n_vocab]. */
  get logits(): Float32Array {
    return this.logitsView;
  }

  /**
   * Run `nTok` tokens (already in inputTokens/inputPositions) of one sequence (KV table set 0) through the model.
   * Cache positions `[0, nKv)` must be filled after this batch, i.e. nKv = max position + 1.
   * `outRows` = 1 computes the logits of the last token only; `outRows` = nTok, of every token.
   */
  forward(nTok: number, nKv: number, outRows: number): void | Promise<void> {
    const { be, hp, s, one } = this;
    const { nEmbd } = hp;
    one.rowStart[0] = 0;
    one.rowCount[0] = nTok;
    one.nKv[0] = nKv;
    one.tableSet[0] = 0;
    this.layers_(nTok, one);
    const first = nTok - outRows;
    be.rmsNorm(s.hRow[first], s.xRow[first], this.outputNorm, hp.rmsEps, nEmbd, outRows);
    return this.output_(s.hRow[first], outRows);
  }

  /**
   * Several sequences in one forward (see `Batch`): matmuls, norms, rope and the FFN run once over all rows;
   * KV stores and attention run per sequence over its rows. Logits: row j = sequence j's last row.
   */
  forwardBatch(b: Batch): void | Promise<void> {
    const { be, hp, s } = this;
    if (b.nSeq < 1 || b.nSeq > this.maxSeqs) throw new RangeError(`forwardBatch: ${b.nSeq} sequences, the model takes 1..${this.maxSeqs}`);
    if (this.embeddingRows && (b.nSeq !== 1 || b.rowStart[0] !== 0)) throw new RangeError('forwardBatch: embedding input rows (images) run in a batch of one sequence');
    const last = b.nSeq - 1;
    const nTok = b.rowStart[last] + b.rowCount[last];
    this.layers_(nTok, b);
    // Gather each sequence's last row into h's first rows, normed (rows are independent: the same numerics as one by one).
    for (let j = 0; j < b.nSeq; j++) be.rmsNorm(s.hRow[j], s.xRow[b.rowStart[j] + b.rowCount[j] - 1], this.outputNorm, hp.rmsEps, hp.nEmbd, 1);
    return this.output_(s.h, b.nSeq);
  }

  private output_(h: Tensor, rows: number): void | Promise<void> {
    const { be, hp, s, fam } = this;
    be.matmul(s.logits, this.output, h, rows);
    if (fam.finalSoftcap > 0) be.softcap(s.logits, s.logits, fam.finalSoftcap, rows * hp.nVocab);
    return be.compute();
  }

  /** Records every layer over rows [0, nTok); sequences' rows are contiguous and in order in `b`. */
  private layers_(nTok: number, b: Batch): void {
    const { be, hp, s } = this;
    const { nEmbd, nHead, nHeadKv, headDim, nFf } = hp;
    const kvDim = nHeadKv * headDim;
    const { ropeQ, ropeK, attn, fam } = this;

    be.getRows(s.x, this.tokEmbd, s.tokens, nTok);
    if (fam.embedScale !== 1) be.scale(s.x, s.x, fam.embedScale, nTok * nEmbd);
    // Attention positions per row: the token positions, or (bidirectional image range) its last position.
    const qPosRow = this.embeddingRows && this.embIn ? this.embeddingInput_(nTok) : s.posRow;
    const ropePos = this.mropePos ? this.mropeInput_(nTok, b) : s.pos;
    for (let il = 0; il < hp.nLayer; il++) {
      const L = this.layers[il];
      be.rmsNorm(s.h, s.x, L.attnNorm, hp.rmsEps, nEmbd, nTok);
      be.matmul(s.q, L.wq, s.h, nTok);
      be.matmul(s.k, L.wk, s.h, nTok);
      be.matmul(s.v, L.wv, s.h, nTok);
      if (L.bq) be.add(s.q, s.q, L.bq, nTok * nHead * headDim, nHead * headDim);
      if (L.bk) be.add(s.k, s.k, L.bk, nTok * kvDim, kvDim);
      if (L.bv) be.add(s.v, s.v, L.bv, nTok * kvDim, kvDim);
      if (L.qNorm) be.rmsNorm(s.q, s.q, L.qNorm, hp.rmsEps, headDim, nTok * nHead);
      if (L.kNorm) be.rmsNorm(s.k, s.k, L.kNorm, hp.rmsEps, headDim, nTok * nHeadKv);
      be.rope(s.q, ropePos, nTok, ropeQ[il]);
      be.rope(s.k, ropePos, nTok, ropeK[il]);
      for (let j = 0; j < b.nSeq; j++) {
        const r = b.rowStart[j];
        const n = b.rowCount[j];
        const kv = this.kv.layer(il, b.tableSet[j]);
        be.kvStore(s.kRow[r], n, kvDim, s.posRow[r], kv.kPages, kv.pageSize, kv.kvType);
        be.kvStore(s.vRow[r], n, kvDim, s.posRow[r], kv.vPages, kv.pageSize, kv.vType ?? kv.kvType);
        be.attention(s.attRow[r], s.qRow[r], qPosRow[r], n, b.nKv[j], kv, attn[il]);
      }
      be.matmul(s.o, L.wo, s.att, nTok);
      if (L.attnPostNorm) be.rmsNorm(s.o, s.o, L.attnPostNorm, hp.rmsEps, nEmbd, nTok);
      be.add(s.x, s.x, s.o, nTok * nEmbd);
      be.rmsNorm(s.h, s.x, L.ffnNorm, hp.rmsEps, nEmbd, nTok);
      be.matmul(s.gate, L.wGate, s.h, nTok);
      be.matmul(s.up, L.wUp, s.h, nTok);
      if (fam.ffn === 'geglu') be.geglu(s.gate, s.gate, s.up, nTok * nFf);
      else be.swiglu(s.gate, s.gate, s.up, nTok * nFf);
      be.matmul(s.o, L.wDown, s.gate, nTok);
      if (L.ffnPostNorm) be.rmsNorm(s.o, s.o, L.ffnPostNorm, hp.rmsEps, nEmbd, nTok);
      be.add(s.x, s.x, s.o, nTok * nEmbd);
    }
  }

  /** M-RoPE positions of this forward: the caller's, or (p + δ, p + δ, p + δ, 0) from the token positions (δ: `mropeDelta` of each sequence's table set). */
  private mropeInput_(nTok: number, b: Batch): Tensor {
    const m = this.mropePositions!;
    if (!this.mropeExplicit) {
      const p = this.posView.subarray(0, nTok);
      for (let k = 0; k < 3; k++) m.set(p, k * nTok);
      m.fill(0, 3 * nTok, 4 * nTok);
      const delta = this.mropeDelta!;
      for (let j = 0; j < b.nSeq; j++) {
        const d = delta[b.tableSet[j]];
        if (d === 0) continue;
        const r0 = b.rowStart[j], r1 = r0 + b.rowCount[j];
        for (let k = 0; k < 3; k++) for (let r = r0; r < r1; r++) m[k * nTok + r] += d;
      }
    }
    this.mropeExplicit = false;
    return this.mropePos!;
  }

  /** Copies the embedding rows over x; returns the attention position rows (bidirectional range: its last position). */
  private embeddingInput_(nTok: number): Tensor[] {
    const { start, n, bidirectional } = this.embeddingRows!;
    const e = this.embIn!;
    if (start < 0 || n < 1 || start + n > nTok) throw new RangeError(`embeddingRows [${start}, ${start + n}) outside the batch of ${nTok}`);
    this.be.scale(this.s.xRow[start], e.rows[start], 1, n * this.hp.nEmbd); // a copy of n contiguous rows
    if (!bidirectional) return this.s.posRow;
    e.attnPosView.set(this.posView.subarray(0, nTok));
    e.attnPosView.fill(this.posView[start + n - 1], start, start + n);
    return e.attnPosRow;
  }
}
