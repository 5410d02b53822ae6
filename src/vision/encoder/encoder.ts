/**
 * Vision encoders of llama.cpp mmproj files, written against the Backend interface:
 *
 *   x = unfold(tile) @ Wpatch.T                  patch conv as a matmul over unfolded patches (patches.ts)
 *       (+ class token first)  + pos_embd (+ patch bias)             ('prefix', computed once at load)
 *   x = layer_norm(x)                                                 (v.pre_ln, if present)
 *   per block:  h = layer_norm(x) (ln1); q, k, v = h @ W.T + b
 *               x += attention(q, k, v) @ Wo.T + bo                   non-causal, per tile
 *               h = layer_norm(x) (ln2); x += act(h @ Wup.T + bup) @ Wdown.T + bdown
 *                                                       act: GELU (tanh) or quick GELU x·σ(1.702x)
 *   x = layer_norm(x)                                                 (v.post_ln, if present)
 *   mlp:    e = gelu(x[1:] @ W0.T + b0) @ W2.T + b2                   (drop the class token)
 *   gemma3: e = rms_norm(avgpool_k×k(x)) · w_soft @ Win               (k×k patches → one token)
 *
 * Tiles are independent and encoded as one batch: matmuls, norms and activations run over every tile's
 * rows at once; attention runs tile by tile over an f32 KV cache of one tile's positions (the attention op
 * is causal, so every query is given the last position: each sees the whole tile, as BERT does).
 *
 * Differs from llama.cpp HEAD on purpose: the class token comes first (position-embedding row 0) and the
 * output drops it, as in Hugging Face's CLIPVisionModel that llava was trained with. HEAD appends it
 * (tools/mtmd/models/llava.cpp: ggml_concat(inp, class_embedding, 1)) and still gathers rows 1..n_patches
 * (clip.cpp: patches[i] = i + 1), which drops patch 0 and keeps the class token — to be confirmed against a
 * real mmproj before comparing with mtmd.
 *
 * Memory per tile in the batch (f32): ~(7·n_embd + n_ff + 3·p²)·n_pos·4 bytes, e.g. Gemma 3 (896 px, p 14:
 * n_pos 4096, n_embd 1152, n_ff 4304) ≈ 215 MB, plus an f32 KV cache of one tile (2·n_pos·n_embd·4 ≈ 38 MB).
 */
import { type AttentionParams, type Backend, type Tensor } from '../../backend/backend.ts';
import { ValidationError } from '../../errors.ts';
import type { GgufFile } from '../../gguf/reader.ts';
import { GgmlType } from '../../gguf/types.ts';
import { KvCache } from '../../kv/cache.ts';
import { readVisionHParams, type VisionHParams } from './hparams.ts';
import { unfoldPatches } from './patches.ts';
import { VisionWeightLoader } from './weights.ts';

interface Affine {
  w: Tensor; // [n_in] → [n_out]
  b: Tensor; // f32 [n_out]
}
interface Norm {
  w: Tensor; // f32 [n]
  b: Tensor | null; // f32 [n]
}
interface Block {
  ln1: Norm;
  q: Affine;
  k: Affine;
  v: Affine;
  o: Affine;
  ln2: Norm;
  up: Affine; // [n_embd] → [n_ff]
  down: Affine; // [n_ff] → [n_embd]
}

export interface VisionEncoderOptions {
  /** Most tiles encoded in one batch (default 1). */
  maxTiles?: number;
}

const QUICK_GELU = 1.702;

export class VisionEncoder {
  /** sha256 of the file's metadata and every weight byte: identifies what this encoder computes. */
  readonly digest: string;
  /** f32 [max_tiles·n_tokens][n_out]: the last encode's embeddings (valid until the next encode). */
  readonly output: Float32Array;
  private readonly patchView: Float32Array;
  private readonly attn: AttentionParams;

  private constructor(
    readonly hp: VisionHParams,
    readonly maxTiles: number,
    private readonly be: Backend,
    private readonly w: {
      patch: Tensor; // [3·p·p] → [n_embd]
      preLn: Norm | null;
      blocks: Block[];
      postLn: Norm | null;
      mm0: Affine | null; // mlp: [n_embd] → [n_out]
      mm2: Affine | null; // mlp: [n_out] → [n_out]
      softNorm: Tensor | null; // gemma3: f32 [n_embd]
      inProj: Tensor | null; // gemma3: f32 [n_embd] → [n_out]
    },
    private readonly s: {
      patches: Tensor; // f32 [max_tiles·n_pos][3·p·p]: unfolded pixels (class rows zero)
      prefix: Tensor; // f32 [n_pos][n_embd]: class token / patch bias + position embeddings
      pos: Tensor; // i32 [n_pos]: 0..n_pos−1 (cache slots)
      attnPos: Tensor; // i32 [n_pos]: n_pos−1 (every query sees the whole tile)
      x: Tensor; // f32 [max_tiles·n_pos][n_embd]: residual stream
      h: Tensor; // f32 [max_tiles·n_pos][n_embd]
      q: Tensor[]; // per tile: f32 [n_pos][n_embd] (rows of one buffer)
      k: Tensor[];
      v: Tensor[];
      att: Tensor[];
      attAll: Tensor; // f32 [max_tiles·n_pos][n_embd] (the buffer under att)
      qAll: Tensor;
      kAll: Tensor;
      vAll: Tensor;
      ff: Tensor; // f32 [max_tiles·n_pos][n_ff]
      gather: Tensor[]; // i32 [max_tiles·n_tokens] row ids into x: mlp one (patch rows), gemma3 k·k (pool taps)
      pooled: Tensor; // f32 [max_tiles·n_tokens][n_embd]
      tmp: Tensor; // f32 [max_tiles·n_tokens][max(n_embd, n_out)]
      out: Tensor; // f32 [max_tiles·n_tokens][n_out]
    },
    private readonly kv: KvCache,
    digest: string,
  ) {
    this.digest = digest;
    this.output = be.f32(s.out);
    this.patchView = be.f32(s.patches);
    this.attn = { nHead: hp.nHead, nHeadKv: hp.nHead, headDim: hp.headDim, scale: 1 / Math.sqrt(hp.headDim) };
  }

  static async load(file: GgufFile, be: Backend, opts: VisionEncoderOptions = {}): Promise<VisionEncoder> {
    const hp = readVisionHParams(file);
    const maxTiles = opts.maxTiles ?? 1;
    if (!Number.isInteger(maxTiles) || maxTiles < 1) throw new ValidationError(`VisionEncoder: maxTiles must be a positive integer, got ${maxTiles}`);
    const { nEmbd, nFf, nOut, nPos, nTokens, patchSize: p } = hp;
    const L = new VisionWeightLoader(file, be);
    const affine = async (name: string, nIn: number, o: number): Promise<Affine> => ({ w: await L.load(`${name}.weight`, [nIn, o]), b: await L.load(`${name}.bias`, [o]) });
    const norm = async (name: string): Promise<Norm> => ({ w: await L.load(`${name}.weight`, [nEmbd]), b: await L.loadOptional(`${name}.bias`, [nEmbd]) });
    const optNorm = (name: string) => (L.has(`${name}.weight`) ? norm(name) : Promise.resolve(null));
    const patchDim = 3 * p * p;
    const patch = await L.load('v.patch_embd.weight', [p, p, 3, nEmbd], [patchDim, nEmbd]);
    const patchBias = await L.loadOptional('v.patch_embd.bias', [nEmbd]);
    const cls = hp.hasClassToken ? await L.load('v.class_embd', [nEmbd]) : null;
    const posEmbd = await L.load('v.position_embd.weight', [nEmbd, nPos]);
    const preLn = await optNorm('v.pre_ln');
    const blocks: Block[] = [];
    for (let il = 0; il < hp.nLayerRun; il++) {
      const b = `v.blk.${il}.`;
      blocks.push({
        ln1: await norm(`${b}ln1`),
        q: await affine(`${b}attn_q`, nEmbd, nEmbd),
        k: await affine(`${b}attn_k`, nEmbd, nEmbd),
        v: await affine(`${b}attn_v`, nEmbd, nEmbd),
        o: await affine(`${b}attn_out`, nEmbd, nEmbd),
        ln2: await norm(`${b}ln2`),
        up: await affine(`${b}ffn_up`, nEmbd, nFf),
        down: await affine(`${b}ffn_down`, nFf, nEmbd),
      });
    }
    const postLn = await optNorm('v.post_ln');
    const gemma = hp.projector === 'gemma3';
    const mm0 = gemma ? null : await affine('mm.0', nEmbd, nOut);
    const mm2 = gemma || !L.has('mm.2.weight') ? null : await affine('mm.2', nOut, nOut);
    const softNorm = gemma ? await L.load('mm.soft_emb_norm.weight', [nEmbd]) : null;
    const inProj = gemma ? await L.loadTransposed('mm.input_projection.weight', nOut, nEmbd) : null;

    const rowsAll = maxTiles * nPos;
    const nTokAll = maxTiles * nTokens;
    const f32 = (...dims: number[]) => be.buffer(GgmlType.F32, dims);
    const i32 = (n: number) => be.buffer(GgmlType.I32, [n]);
    const perTile = (t: Tensor) => Array.from({ length: maxTiles }, (_, i) => be.rows(t, i * nPos, nPos));
    const [qAll, kAll, vAll, attAll] = [f32(nEmbd, rowsAll), f32(nEmbd, rowsAll), f32(nEmbd, rowsAll), f32(nEmbd, rowsAll)];
    const nGather = gemma ? hp.merge * hp.merge : 1;
    const s = {
      patches: f32(patchDim, rowsAll),
      prefix: f32(nEmbd, nPos),
      pos: i32(nPos),
      attnPos: i32(nPos),
      x: f32(nEmbd, rowsAll),
      h: f32(nEmbd, rowsAll),
      q: perTile(qAll), k: perTile(kAll), v: perTile(vAll), att: perTile(attAll),
      qAll, kAll, vAll, attAll,
      ff: f32(nFf, rowsAll),
      gather: Array.from({ length: nGather }, () => i32(nTokAll)),
      pooled: f32(nEmbd, nTokAll),
      tmp: f32(Math.max(nEmbd, nOut), nTokAll),
      out: f32(nOut, nTokAll),
    };
    be.reserve({ maxTokens: rowsAll, maxRowLen: Math.max(nEmbd, nFf, nOut, patchDim), maxKv: nPos });
    const kv = new KvCache(be, { nLayer: 1, nHeadKv: hp.nHead, headDim: hp.headDim, nCtx: nPos, kvType: GgmlType.F32 });

    // Host-side index tables (load time only).
    be.i32(s.pos).set(Array.from({ length: nPos }, (_, i) => i));
    be.i32(s.attnPos).fill(nPos - 1);
    fillGather(hp, maxTiles, s.gather.map((t) => be.i32(t)));
    be.f32(s.patches).fill(0);

    // prefix = position embeddings + (class token in row 0 | patch bias on patch rows).
    be.getRows(s.prefix, posEmbd, s.pos, nPos);
    const off = cls ? 1 : 0;
    if (cls) be.add(be.rows(s.prefix, 0, 1), be.rows(s.prefix, 0, 1), cls, nEmbd);
    if (patchBias) {
      const rest = be.rows(s.prefix, off, hp.nPatches);
      be.add(rest, rest, patchBias, hp.nPatches * nEmbd, nEmbd);
    }
    await be.compute();

    const weights = { patch, preLn, blocks, postLn, mm0, mm2, softNorm, inProj };
    return new VisionEncoder(hp, maxTiles, be, weights, s, kv, L.digest());
  }

  /**
   * Encodes tiles, each an f32 CHW tensor `[3][image_size][image_size]` already normalised with the
   * model's mean/std, in one batch; resolves to `output` rows `[tiles·n_tokens][n_out]` (tile-major).
   */
  async encode(tiles: readonly Float32Array[]): Promise<Float32Array> {
    const { hp, maxTiles } = this;
    if (tiles.length < 1 || tiles.length > maxTiles) throw new ValidationError(`VisionEncoder: ${tiles.length} tiles, expected 1..${maxTiles}`);
    const off = hp.hasClassToken ? 1 : 0;
    tiles.forEach((chw, t) => unfoldPatches(chw, hp.imageSize, hp.patchSize, this.patchView, t * hp.nPos + off));
    this.record(tiles.length);
    await this.be.compute();
    return this.output.subarray(0, tiles.length * hp.nTokens * hp.nOut);
  }

  private record(nTiles: number): void {
    const { be, hp, s, w, kv } = this;
    const { nEmbd, nFf, nPos, eps } = hp;
    const rows = nTiles * nPos;
    const n = rows * nEmbd;
    const affine = (out: Tensor, a: Affine, x: Tensor, nOut: number, nRows = rows) => {
      be.matmul(out, a.w, x, nRows);
      be.add(out, out, a.b, nRows * nOut, nOut);
    };
    const norm = (out: Tensor, x: Tensor, m: Norm) => be.layerNorm(out, x, m.w, m.b, eps, nEmbd, rows);
    be.matmul(s.x, w.patch, s.patches, rows);
    be.add(s.x, s.x, s.prefix, n, nPos * nEmbd);
    if (w.preLn) norm(s.x, s.x, w.preLn);
    const view = kv.layer(0);
    for (const B of w.blocks) {
      norm(s.h, s.x, B.ln1);
      affine(s.qAll, B.q, s.h, nEmbd);
      affine(s.kAll, B.k, s.h, nEmbd);
      affine(s.vAll, B.v, s.h, nEmbd);
      for (let t = 0; t < nTiles; t++) {
        be.kvStore(s.k[t]!, nPos, nEmbd, s.pos, view.kPages, view.pageSize, view.kvType);
        be.kvStore(s.v[t]!, nPos, nEmbd, s.pos, view.vPages, view.pageSize, view.vType ?? view.kvType);
        be.attention(s.att[t]!, s.q[t]!, s.attnPos, nPos, nPos, view, this.attn);
      }
      affine(s.h, B.o, s.attAll, nEmbd);
      be.add(s.x, s.x, s.h, n);
      norm(s.h, s.x, B.ln2);
      affine(s.ff, B.up, s.h, nFf);
      if (hp.ffnAct === 'gelu') {
        be.gelu(s.ff, s.ff, rows * nFf);
      } else {
        // quick GELU x·σ(1.702x) = silu(1.702x) / 1.702
        be.scale(s.ff, s.ff, QUICK_GELU, rows * nFf);
        be.silu(s.ff, s.ff, rows * nFf);
        be.scale(s.ff, s.ff, 1 / QUICK_GELU, rows * nFf);
      }
      affine(s.h, B.down, s.ff, nEmbd);
      be.add(s.x, s.x, s.h, n);
    }
    if (w.postLn) norm(s.x, s.x, w.postLn);
    const nTok = nTiles * hp.nTokens;
    if (hp.projector === 'mlp') {
      be.getRows(s.pooled, s.x, s.gather[0]!, nTok); // patch rows (class token dropped)
      if (w.mm2) {
        affine(s.tmp, w.mm0!, s.pooled, hp.nOut, nTok);
        be.gelu(s.tmp, s.tmp, nTok * hp.nOut);
        affine(s.out, w.mm2, s.tmp, hp.nOut, nTok);
      } else {
        affine(s.out, w.mm0!, s.pooled, hp.nOut, nTok);
        be.gelu(s.out, s.out, nTok * hp.nOut);
      }
    } else {
      // average pool: the mean of k·k gathered rows
      be.getRows(s.pooled, s.x, s.gather[0]!, nTok);
      for (let g = 1; g < s.gather.length; g++) {
        be.getRows(s.tmp, s.x, s.gather[g]!, nTok);
        be.add(s.pooled, s.pooled, s.tmp, nTok * nEmbd);
      }
      be.scale(s.pooled, s.pooled, 1 / s.gather.length, nTok * nEmbd);
      be.rmsNorm(s.pooled, s.pooled, w.softNorm, eps, nEmbd, nTok);
      be.matmul(s.out, w.inProj!, s.pooled, nTok);
    }
  }
}

/**
 * Row ids into the trunk's output `x` `[tiles·n_pos]`, per output token (tile-major, raster order):
 * mlp: the patch rows (after the class token); gemma3: for tap (dy, dx) of the k×k window, the patch at
 * (k·Y + dy, k·X + dx) of output token (Y, X).
 */
function fillGather(hp: VisionHParams, maxTiles: number, out: Int32Array[]): void {
  const side = hp.patchesPerSide;
  const k = hp.merge;
  const outSide = side / k;
  const off = hp.hasClassToken ? 1 : 0;
  for (let t = 0; t < maxTiles; t++) {
    for (let i = 0; i < hp.nTokens; i++) {
      const Y = Math.floor(i / outSide);
      const X = i % outSide;
      for (let g = 0; g < out.length; g++) {
        const py = Y * k + Math.floor(g / k);
        const px = X * k + (g % k);
        out[g]![t * hp.nTokens + i] = t * hp.nPos + off + py * side + px;
      }
    }
  }
}
