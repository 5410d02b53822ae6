/**
 * BERT encoders for embeddings (`bert`: BGE, MiniLM, ...; `nomic-bert`), as llama.cpp's llama_model_bert graph:
 *
 *   x = token_embd[t] + token_types[0] (+ position_embd[pos], bert); x = layer_norm(x) (token_embd_norm)
 *   per layer:  q, k, v = x @ W.T (+ b)   (nomic-bert: one attn_qkv matrix, NeoX RoPE on q and k)
 *               o = attention(q, k, v) over the whole text (not causal), K/V kept in f32 (llama.cpp
 *               runs encoders without a cache)
 *               x = layer_norm(x + o @ Wo.T (+ bo))                            (attn_output_norm)
 *               x = layer_norm(x + ffn(x))   bert: gelu(x @ Wup.T + bup) @ Wdown.T + bdown;
 *                                            nomic-bert: (silu(x @ Wgate.T) · x @ Wup.T) @ Wdown.T
 *   embedding = pool(x) (mean or [CLS], `<arch>.pooling_type`)
 *
 * Pooling and L2 normalisation happen in the engine (engine.embed); this file computes the hidden states.
 */
import { type AttentionParams, type Backend, type RopeParams, RopeMode, type Tensor } from '../backend/backend.ts';
import type { GgufFile } from '../gguf/reader.ts';
import { GgmlType } from '../gguf/types.ts';
import { KvCache } from '../kv/cache.ts';
import { ModelFormatError, readHParams, type HParams } from './hparams.ts';
import type { Model, ModelOptions, Pooling } from './model.ts';
import { WeightLoader } from './weights.ts';

interface Affine {
  w: Tensor; // [n_in] → [n_out]
  b: Tensor | null; // f32 [n_out]
}
interface Norm {
  w: Tensor; // f32 [n_embd]
  b: Tensor; // f32 [n_embd]
}
interface BertLayer {
  q: Affine;
  k: Affine;
  v: Affine;
  o: Affine;
  attnNorm: Norm;
  up: Affine; // [n_embd] → [n_ff]
  gate: Tensor | null; // [n_embd] → [n_ff]   (nomic-bert: SwiGLU)
  down: Affine; // [n_ff] → [n_embd]
  outNorm: Norm;
}

/** llama.cpp `llama_pooling_type` values in `<arch>.pooling_type`. */
const POOLING: Record<number, Pooling> = { 0: 'none', 1: 'mean', 2: 'cls', 3: 'last' };

export class BertModel implements Model {
  readonly kv: KvCache;
  readonly logitRows = 0;
  readonly logits = new Float32Array(0);
  readonly inputTokens: Int32Array;
  readonly inputPositions: Int32Array;
  /** f32 [max_tokens][n_embd]: the last forward's hidden states. */
  readonly hidden: Float32Array;
  private readonly attnPos: Int32Array;
  private readonly attn: AttentionParams;
  private readonly rope: RopeParams | null;

  private constructor(
    readonly hp: HParams,
    readonly pooling: Pooling,
    private readonly eps: number,
    private readonly be: Backend,
    private readonly w: {
      tokEmbd: Tensor; // [n_vocab][n_embd]
      posEmbd: Tensor | null; // [n_ctx_train][n_embd] (bert)
      type0: Tensor | null; // f32 [n_embd]: token type 0
      embNorm: Norm;
      layers: BertLayer[];
    },
    private readonly s: {
      tokens: Tensor; // i32 [max_tok]
      pos: Tensor; // i32 [max_tok]: 0..n-1 (position embeddings, cache slots)
      attnPos: Tensor; // i32 [max_tok]: n-1 for every query (every token sees the whole text)
      x: Tensor; // f32 [max_tok][n_embd]
      h: Tensor; // f32 [max_tok][n_embd]
      q: Tensor; // f32 [max_tok][n_embd]
      k: Tensor;
      v: Tensor;
      att: Tensor;
      ff: Tensor; // f32 [max_tok][n_ff]
      gate: Tensor; // f32 [max_tok][n_ff] (nomic-bert)
    },
    readonly maxTokens: number,
    kv: KvCache,
  ) {
    this.kv = kv;
    this.inputTokens = be.i32(s.tokens);
    this.inputPositions = be.i32(s.pos);
    this.attnPos = be.i32(s.attnPos);
    this.hidden = be.f32(s.x);
    this.attn = { nHead: hp.nHead, nHeadKv: hp.nHeadKv, headDim: hp.headDim, scale: 1 / Math.sqrt(hp.headDim) };
    this.rope = w.posEmbd
      ? null
      : { nHead: hp.nHead, headDim: hp.headDim, nRot: hp.nRot, mode: RopeMode.NEOX, freqBase: hp.ropeBase, freqScale: hp.ropeScale, freqFactors: null };
  }

  static async load(file: GgufFile, be: Backend, opts: ModelOptions): Promise<BertModel> {
    const arch = file.getStr('general.architecture');
    const hp = readHParams(file, arch);
    if (hp.nHeadKv !== hp.nHead) throw new ModelFormatError(file.path, `${arch}: grouped-query attention is not expected`);
    const eps = file.getF32(`${arch}.attention.layer_norm_epsilon`, 1e-12);
    const pooling = POOLING[file.getU32(`${arch}.pooling_type`, 1)];
    if (!pooling) throw new ModelFormatError(file.path, `${arch}.pooling_type ${file.getU32(`${arch}.pooling_type`)} is not supported (0..3)`);
    const w = new WeightLoader(file, be);
    const { nEmbd, nFf, nVocab } = hp;
    const affine = async (name: string, nIn: number, nOut: number): Promise<Affine> => ({
      w: await w.load(`${name}.weight`, [nIn, nOut]),
      b: await w.loadOptional(`${name}.bias`, [nOut]),
    });
    const norm = async (name: string): Promise<Norm> => ({ w: await w.load(`${name}.weight`, [nEmbd]), b: await w.load(`${name}.bias`, [nEmbd]) });
    const types = file.tensorByName.get('token_types.weight');
    const tokenTypes = types ? await w.load('token_types.weight', [nEmbd, types.dims[1]]) : null;
    const weights = {
      tokEmbd: await w.load('token_embd.weight', [nEmbd, nVocab]),
      posEmbd: arch === 'bert' ? await w.load('position_embd.weight', [nEmbd, hp.nCtxTrain]) : null,
      type0: tokenTypes ? be.rows(tokenTypes, 0, 1) : null,
      embNorm: await norm('token_embd_norm'),
      layers: [] as BertLayer[],
    };
    for (let il = 0; il < hp.nLayer; il++) {
      const p = `blk.${il}.`;
      const qkv = w.has(p + 'attn_qkv.weight') ? await w.load(p + 'attn_qkv.weight', [nEmbd, 3 * nEmbd]) : null;
      const part = async (name: string, i: number): Promise<Affine> => (qkv ? { w: be.rows(qkv, i * nEmbd, nEmbd), b: null } : affine(p + name, nEmbd, nEmbd));
      weights.layers.push({
        q: await part('attn_q', 0),
        k: await part('attn_k', 1),
        v: await part('attn_v', 2),
        o: await affine(p + 'attn_output', nEmbd, nEmbd),
        attnNorm: await norm(p + 'attn_output_norm'),
        up: await affine(p + 'ffn_up', nEmbd, nFf),
        gate: await w.loadOptional(p + 'ffn_gate.weight', [nEmbd, nFf]),
        down: await affine(p + 'ffn_down', nFf, nEmbd),
        outNorm: await norm(p + 'layer_output_norm'),
      });
    }
    // A text is one batch: at most the trained context and the batch size.
    const maxTok = Math.max(1, Math.min(opts.maxTokens, opts.nCtx, hp.nCtxTrain));
    const f32 = (...dims: number[]) => be.buffer(GgmlType.F32, dims);
    const s = {
      tokens: be.buffer(GgmlType.I32, [maxTok]),
      pos: be.buffer(GgmlType.I32, [maxTok]),
      attnPos: be.buffer(GgmlType.I32, [maxTok]),
      x: f32(nEmbd, maxTok),
      h: f32(nEmbd, maxTok),
      q: f32(nEmbd, maxTok),
      k: f32(nEmbd, maxTok),
      v: f32(nEmbd, maxTok),
      att: f32(nEmbd, maxTok),
      ff: f32(nFf, maxTok),
      gate: f32(nFf, maxTok),
    };
    be.reserve({ maxTokens: maxTok, maxRowLen: Math.max(nEmbd, nFf), maxKv: maxTok });
    // f32 K/V: llama.cpp computes encoder attention from the f32 projections (no f16 cache).
    const kv = new KvCache(be, { nLayer: hp.nLayer, nHeadKv: hp.nHeadKv, headDim: hp.headDim, nCtx: maxTok, kvType: GgmlType.F32 });
    return new BertModel(hp, pooling, eps, be, weights, s, maxTok, kv);
  }

  /** Encodes `nTok` tokens (inputTokens; inputPositions must be 0..nTok-1) into `hidden`. */
  forward(nTok: number, _nKv: number, _outRows: number): void | Promise<void> {
    const { be, hp, s, w, eps } = this;
    const { nEmbd, nFf } = hp;
    const n = nTok * nEmbd;
    this.attnPos.fill(nTok - 1, 0, nTok);
    const affine = (out: Tensor, a: Affine, x: Tensor, nOut: number) => {
      be.matmul(out, a.w, x, nTok);
      if (a.b) be.add(out, out, a.b, nTok * nOut, nOut);
    };
    be.getRows(s.x, w.tokEmbd, s.tokens, nTok);
    if (w.type0) be.add(s.x, s.x, w.type0, n, nEmbd);
    if (w.posEmbd) {
      be.getRows(s.h, w.posEmbd, s.pos, nTok);
      be.add(s.x, s.x, s.h, n);
    }
    be.layerNorm(s.x, s.x, w.embNorm.w, w.embNorm.b, eps, nEmbd, nTok);
    for (let il = 0; il < hp.nLayer; il++) {
      const L = w.layers[il];
      const kv = this.kv.layer(il);
      affine(s.q, L.q, s.x, nEmbd);
      affine(s.k, L.k, s.x, nEmbd);
      affine(s.v, L.v, s.x, nEmbd);
      if (this.rope) {
        be.rope(s.q, s.pos, nTok, this.rope);
        be.rope(s.k, s.pos, nTok, this.rope);
      }
      be.kvStore(s.k, nTok, nEmbd, s.pos, kv.kPages, kv.pageSize, kv.kvType);
      be.kvStore(s.v, nTok, nEmbd, s.pos, kv.vPages, kv.pageSize, kv.kvType);
      be.attention(s.att, s.q, s.attnPos, nTok, nTok, kv, this.attn);
      affine(s.h, L.o, s.att, nEmbd);
      be.add(s.x, s.x, s.h, n);
      be.layerNorm(s.x, s.x, L.attnNorm.w, L.attnNorm.b, eps, nEmbd, nTok);
      affine(s.ff, L.up, s.x, nFf);
      if (L.gate) {
        be.matmul(s.gate, L.gate, s.x, nTok);
        be.swiglu(s.ff, s.gate, s.ff, nTok * nFf);
      } else {
        be.gelu(s.ff, s.ff, nTok * nFf);
      }
      affine(s.h, L.down, s.ff, nEmbd);
      be.add(s.x, s.x, s.h, n);
      be.layerNorm(s.x, s.x, L.outNorm.w, L.outNorm.b, eps, nEmbd, nTok);
    }
    return be.compute();
  }
}
