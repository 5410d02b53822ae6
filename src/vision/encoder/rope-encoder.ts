/**
 * The 2D-RoPE vision towers of llama.cpp mmproj files (Pixtral / Mistral 3, Qwen2.5-VL), written against the
 * Backend interface, for one image of any size (multiples of `unit` pixels) per encode:
 *
 *   x = unfold(img) @ Wpatch.T                 (qwen: + unfold(img) @ Wpatch1.T, the second temporal slice
 *                                               of a still image; rows in window order, rope-layout.ts)
 *   x = rms_norm(x)·w_pre                                              (pixtral: v.pre_ln)
 *   per block:  h = rms_norm(x)·ln1;  q, k, v = h @ W.T (+ b)
 *               q, k = rope(q, k; row, col)     pixtral: ROPE_2D (half the dims by row, half by col)
 *                                               qwen: VISION, streams (row, col, row, col), sections [d/4, d/4]
 *               x += attention(q, k, v) @ Wo.T (+ bo)   non-causal: over the whole image, or (qwen blocks
 *                                                       that are not full-attention) within each window
 *               h = rms_norm(x)·ln2;  x += (silu(h @ Wg.T + bg) · (h @ Wu.T + bu)) @ Wd.T + bd
 *   pixtral:  [merger: x = unfold_m×m(rms_norm(x)·w_in) @ Wmerge.T]
 *             e = gelu(x @ W1.T + b1) @ W2.T + b2; an [IMG_BREAK] row after each row of tokens but the last
 *   qwen:     x = rms_norm(x)·w_post; e = gelu(x[n/4][4·n_embd] @ W0.T + b0) @ W2.T + b2, back to raster order
 *
 * Attention runs over an f32 KV cache of the image's patches (slots 0..n−1): every query of a full-attention
 * call gets position n−1 (it sees every patch); a window's queries get the window's last slot and a sliding
 * window of its length (they see exactly their window).
 *
 * Memory (f32): ~(9·n_embd + 2·n_ff + 3·p²)·max_patches·4 bytes plus a KV cache of 2·max_patches·n_embd·4,
 * e.g. Qwen2.5-VL (n_embd 1280, n_ff 3420, p 14) at 1024 patches (448×448): ≈ 90 MB.
 */
import { type AttentionParams, type Backend, type RopeParams, RopeMode, type Tensor } from '../../backend/backend.ts';
import { ValidationError } from '../../errors.ts';
import type { GgufFile } from '../../gguf/reader.ts';
import { GgmlType } from '../../gguf/types.ts';
import { KvCache } from '../../kv/cache.ts';
import { pixtralOutputIds, qwenPatchRow, qwenWindows } from './rope-layout.ts';
import { readRopeVisionHParams, type RopeVisionHParams } from './rope-hparams.ts';
import { VisionWeightLoader } from './weights.ts';

interface Linear {
  w: Tensor; // [n_in] → [n_out]
  b: Tensor | null; // f32 [n_out]
}
interface Block {
  ln1: Tensor; // f32 [n_embd]
  q: Linear;
  k: Linear;
  v: Linear;
  o: Linear;
  ln2: Tensor;
  gate: Linear; // [n_embd] → [n_ff]
  up: Linear;
  down: Linear; // [n_ff] → [n_embd]
}

export interface RopeVisionEncoderOptions {
  /** Most patches per image (default (image_size / patch_size)²). */
  maxPatches?: number;
}

/** One encoded image: `embd` rows `[nTokens][nOut]` (valid until the next encode) and the merged token grid. */
export interface RopeVisionOutput {
  embd: Float32Array;
  nTokens: number;
  /** Merged tokens per column and per row (Qwen's (h, w) grid for M-RoPE; Pixtral's rows of [IMG_BREAK]). */
  rows: number;
  cols: number;
}

/** The backend cannot run a multi-position RoPE mode the encoder needs. */
export class UnsupportedRopeModeError extends ValidationError {}

export class RopeVisionEncoder {
  readonly digest: string;
  readonly maxPatches: number;
  private readonly patchView: Float32Array;
  private readonly rope: RopeParams;
  private readonly full: AttentionParams;
  /** Per window geometry (first row, rows): views and params, built on first use and kept. */
  private readonly windowViews = new Map<string, { q: Tensor; att: Tensor; qPos: Tensor; p: AttentionParams }>();

  private constructor(
    readonly hp: RopeVisionHParams,
    private readonly be: Backend,
    private readonly w: {
      patch: Tensor; // [3·p·p] → [n_embd]
      patch1: Tensor | null; // qwen: second temporal slice
      patchBias: Tensor | null;
      preLn: Tensor | null;
      blocks: Block[];
      postLn: Tensor | null;
      inNorm: Tensor | null; // pixtral merger: f32 [n_embd]
      merger: Tensor | null; // pixtral: f32 [m²·n_embd] (tap-major) → [n_embd]
      mmA: Linear; // pixtral mm.1 [n_embd → n_out]; qwen mm.0 [4·n_embd → 4·n_embd]
      mmB: Linear; // pixtral mm.2 [n_out → n_out]; qwen mm.2 [4·n_embd → n_out]
    },
    private readonly s: {
      patches: Tensor; // f32 [max_p][3·p·p]
      x: Tensor; // f32 [max_p][n_embd]: residual stream
      h: Tensor; // f32 [max_p][n_embd]
      q: Tensor; // f32 [max_p][n_embd]
      k: Tensor;
      v: Tensor;
      att: Tensor;
      gate: Tensor; // f32 [max_p][n_ff]
      up: Tensor;
      pos: Tensor; // i32 [4·max_p]: RoPE streams, stream k of patch t at k·n + t
      slot: Tensor; // i32 [max_p]: 0..max_p−1 (KV slots)
      qAll: Tensor; // i32 [max_p]: n−1 (full attention)
      qWin: Tensor; // i32 [max_p]: last slot of the patch's window
      mIds: Tensor; // i32 [max_p]: pixtral merger taps / qwen raster order of merge units
      mIn: Tensor; // f32 [max_m][m²·n_embd] (pixtral merger input)
      mOut: Tensor; // f32 [max_m][n_embd]
      tmp: Tensor; // f32 [max_m][max(n_out, 4·n_embd)]
      proj: Tensor; // f32 [1 + max_m][n_out]: pixtral row 0 = [IMG_BREAK]
      projRows: Tensor; // rows 1.. of proj (pixtral) / rows 0.. (qwen)
      outIds: Tensor; // i32 [max_out]
      out: Tensor; // f32 [max_out][n_out]
    },
    private readonly kv: KvCache,
    digest: string,
    maxPatches: number,
  ) {
    this.digest = digest;
    this.maxPatches = maxPatches;
    this.patchView = be.f32(s.patches);
    const qwen = hp.projector === 'qwen2.5vl_merger';
    const d = hp.headDim;
    this.rope = qwen
      ? { nHead: hp.nHead, headDim: d, nRot: d / 2, mode: RopeMode.VISION, freqBase: hp.ropeTheta, freqScale: 1, freqFactors: null, sections: [d / 4, d / 4, 0, 0] }
      : { nHead: hp.nHead, headDim: d, nRot: d, mode: RopeMode.ROPE_2D, freqBase: hp.ropeTheta, freqScale: 1, freqFactors: null };
    this.full = { nHead: hp.nHead, nHeadKv: hp.nHead, headDim: d, scale: 1 / Math.sqrt(d) };
  }

  static async load(file: GgufFile, be: Backend, opts: RopeVisionEncoderOptions = {}): Promise<RopeVisionEncoder> {
    const hp = readRopeVisionHParams(file);
    if (be.name === 'webgpu') throw new UnsupportedRopeModeError(`RopeVisionEncoder: the ${be.name} backend has no 2D RoPE yet (use wasm or native)`);
    const { nEmbd: E, nFf: F, nOut, patchSize: p, merge: m } = hp;
    const qwen = hp.projector === 'qwen2.5vl_merger';
    const side = Math.floor(hp.imageSize / p);
    const maxP = opts.maxPatches ?? side * side;
    if (!Number.isInteger(maxP) || maxP < m * m) throw new ValidationError(`RopeVisionEncoder: maxPatches must be an integer ≥ ${m * m}, got ${maxP}`);
    const L = new VisionWeightLoader(file, be);
    const lin = async (name: string, nIn: number, o: number): Promise<Linear> => ({ w: await L.load(`${name}.weight`, [nIn, o]), b: await L.loadOptional(`${name}.bias`, [o]) });
    const vec = (name: string) => L.load(name, [E]);
    const optVec = (name: string) => (L.has(name) ? vec(name) : Promise.resolve(null));
    const patchDim = 3 * p * p;
    const patch = await L.load('v.patch_embd.weight', [p, p, 3, E], [patchDim, E]);
    const patch1 = qwen ? await L.load('v.patch_embd.weight.1', [p, p, 3, E], [patchDim, E]) : null;
    const patchBias = await L.loadOptional('v.patch_embd.bias', [E]);
    const preLn = await optVec('v.pre_ln.weight');
    const blocks: Block[] = [];
    for (let il = 0; il < hp.nLayer; il++) {
      const b = `v.blk.${il}.`;
      blocks.push({
        ln1: await vec(`${b}ln1.weight`),
        q: await lin(`${b}attn_q`, E, E), k: await lin(`${b}attn_k`, E, E), v: await lin(`${b}attn_v`, E, E), o: await lin(`${b}attn_out`, E, E),
        ln2: await vec(`${b}ln2.weight`),
        gate: await lin(`${b}ffn_gate`, E, F), up: await lin(`${b}ffn_up`, E, F), down: await lin(`${b}ffn_down`, F, E),
      });
    }
    const postLn = await optVec('v.post_ln.weight');
    let inNorm: Tensor | null = null;
    let merger: Tensor | null = null;
    if (!qwen && m > 1) {
      inNorm = await vec('mm.input_norm.weight');
      // llama.cpp's im2col column c·m² + ky·m + kx; we gather tap-major: column (ky·m + kx)·E + c.
      const perm = new Int32Array(m * m * E);
      for (let tap = 0; tap < m * m; tap++) for (let c = 0; c < E; c++) perm[tap * E + c] = c * m * m + tap;
      merger = await L.loadPermutedCols('mm.patch_merger.weight', m * m * E, E, perm);
    }
    const mmA = qwen ? await lin('mm.0', 4 * E, 4 * E) : await lin('mm.1', E, nOut);
    const mmB = qwen ? await lin('mm.2', 4 * E, nOut) : await lin('mm.2', nOut, nOut);
    const imgBreak = qwen ? null : await L.load('v.token_embd.img_break', [nOut]);

    const maxM = Math.floor(maxP / (m * m));
    const maxOut = maxM + side; // pixtral: at most one [IMG_BREAK] per merged row
    const f32 = (...dims: number[]) => be.buffer(GgmlType.F32, dims);
    const i32 = (n: number) => be.buffer(GgmlType.I32, [n]);
    const proj = f32(nOut, maxM + 1);
    const s = {
      patches: f32(patchDim, maxP),
      x: f32(E, maxP), h: f32(E, maxP), q: f32(E, maxP), k: f32(E, maxP), v: f32(E, maxP), att: f32(E, maxP),
      gate: f32(F, maxP), up: f32(F, maxP),
      pos: i32(4 * maxP), slot: i32(maxP), qAll: i32(maxP), qWin: i32(maxP), mIds: i32(maxP),
      mIn: f32(m * m * E, maxM), mOut: f32(E, maxM),
      tmp: f32(Math.max(nOut, 4 * E), maxM),
      proj, projRows: be.rows(proj, qwen ? 0 : 1, maxM),
      outIds: i32(maxOut), out: f32(nOut, maxOut),
    };
    be.reserve({ maxTokens: maxP, maxRowLen: Math.max(4 * E, F, nOut, patchDim, m * m * E), maxKv: maxP });
    const kv = new KvCache(be, { nLayer: 1, nHeadKv: hp.nHead, headDim: hp.headDim, nCtx: maxP, kvType: GgmlType.F32 });
    be.i32(s.slot).set(Array.from({ length: maxP }, (_, i) => i));
    if (imgBreak) {
      const row = be.rows(proj, 0, 1);
      be.f32(row).fill(0);
      be.add(row, row, imgBreak, nOut);
      await be.compute();
    }
    const weights = { patch, patch1, patchBias, preLn, blocks, postLn, inNorm, merger, mmA, mmB };
    return new RopeVisionEncoder(hp, be, weights, s, kv, L.digest(), maxP);
  }

  /** Token grid of an image of `width × height` pixels (validated). */
  grid(width: number, height: number): { pw: number; ph: number; rows: number; cols: number } {
    const { unit, patchSize: p, merge: m } = this.hp;
    if (!(width > 0 && height > 0 && width % unit === 0 && height % unit === 0)) {
      throw new ValidationError(`RopeVisionEncoder: image ${width}×${height} must have sides that are positive multiples of ${unit} pixels`);
    }
    const pw = width / p, ph = height / p;
    if (pw * ph > this.maxPatches) throw new ValidationError(`RopeVisionEncoder: image ${width}×${height} has ${pw * ph} patches, more than maxPatches ${this.maxPatches}`);
    return { pw, ph, rows: ph / m, cols: pw / m };
  }

  /**
   * Encodes one image, an f32 CHW tensor `[3][height][width]` already normalised with the model's mean/std.
   * Qwen: rows in raster order of merge units; Pixtral: rows of tokens with an [IMG_BREAK] row between them.
   */
  async encode(chw: Float32Array, width: number, height: number): Promise<RopeVisionOutput> {
    const { hp, be, s } = this;
    const g = this.grid(width, height);
    if (chw.length !== 3 * width * height) throw new ValidationError(`RopeVisionEncoder: expected a [3][${height}][${width}] tensor (${3 * width * height} values), got ${chw.length}`);
    const n = g.pw * g.ph;
    const qwen = hp.projector === 'qwen2.5vl_merger';
    const win = qwen ? qwenWindows(g.pw, g.ph, hp.windowGrid) : null;
    const rowOf = win ? (py: number, px: number) => qwenPatchRow(win, py, px) : (py: number, px: number) => py * g.pw + px;

    // Host-side inputs: unfolded patches, RoPE streams, attention positions, gather ids.
    const p = hp.patchSize, dim = 3 * p * p;
    const pos = be.i32(s.pos);
    for (let py = 0; py < g.ph; py++) {
      for (let px = 0; px < g.pw; px++) {
        const r = rowOf(py, px);
        let o = r * dim;
        for (let c = 0; c < 3; c++) {
          for (let ky = 0; ky < p; ky++) {
            const src = c * width * height + (py * p + ky) * width + px * p;
            this.patchView.set(chw.subarray(src, src + p), o);
            o += p;
          }
        }
        pos[r] = py;
        pos[n + r] = px;
        if (qwen) {
          pos[2 * n + r] = py;
          pos[3 * n + r] = px;
        }
      }
    }
    be.i32(s.qAll).fill(n - 1, 0, n);
    if (win) {
      const qWin = be.i32(s.qWin);
      for (const [start, len] of win.windows) qWin.fill(start + len - 1, start, start + len);
    }
    let nOutTok: number;
    const nM = n / (hp.merge * hp.merge);
    if (qwen) {
      // output row j (raster merge unit) = window-order row idx[j]
      be.i32(s.outIds).set(win!.idx);
      nOutTok = nM;
    } else {
      if (this.w.merger) {
        const m = hp.merge, ids = be.i32(s.mIds);
        for (let Y = 0; Y < g.rows; Y++) {
          for (let X = 0; X < g.cols; X++) {
            for (let tap = 0; tap < m * m; tap++) ids[(Y * g.cols + X) * m * m + tap] = (Y * m + Math.floor(tap / m)) * g.pw + X * m + (tap % m);
          }
        }
      }
      nOutTok = pixtralOutputIds(g.rows, g.cols, be.i32(s.outIds));
    }
    this.record(n, nM, nOutTok, win?.windows ?? null);
    await be.compute();
    return { embd: be.f32(s.out).subarray(0, nOutTok * hp.nOut), nTokens: nOutTok, rows: g.rows, cols: g.cols };
  }

  private windowView(start: number, len: number) {
    const key = `${start},${len}`;
    let v = this.windowViews.get(key);
    if (!v) {
      const { be, s } = this;
      v = { q: be.rows(s.q, start, len), att: be.rows(s.att, start, len), qPos: be.rows(s.qWin, start, len), p: { ...this.full, window: len } };
      this.windowViews.set(key, v);
    }
    return v;
  }

  private record(n: number, nM: number, nOutTok: number, windows: [number, number][] | null): void {
    const { be, hp, s, w, kv } = this;
    const { nEmbd: E, nFf: F, nOut, eps } = hp;
    const linear = (out: Tensor, l: Linear, x: Tensor, o: number, rows = n) => {
      be.matmul(out, l.w, x, rows);
      if (l.b) be.add(out, out, l.b, rows * o, o);
    };
    be.matmul(s.x, w.patch, s.patches, n);
    if (w.patch1) {
      be.matmul(s.h, w.patch1, s.patches, n);
      be.add(s.x, s.x, s.h, n * E);
    }
    if (w.patchBias) be.add(s.x, s.x, w.patchBias, n * E, E);
    if (w.preLn) be.rmsNorm(s.x, s.x, w.preLn, eps, E, n);
    const view = kv.layer(0);
    for (let il = 0; il < w.blocks.length; il++) {
      const B = w.blocks[il]!;
      be.rmsNorm(s.h, s.x, B.ln1, eps, E, n);
      linear(s.q, B.q, s.h, E);
      linear(s.k, B.k, s.h, E);
      linear(s.v, B.v, s.h, E);
      be.rope(s.q, s.pos, n, this.rope);
      be.rope(s.k, s.pos, n, this.rope);
      be.kvStore(s.k, n, E, s.slot, view.kPages, view.pageSize, view.kvType);
      be.kvStore(s.v, n, E, s.slot, view.vPages, view.pageSize, view.vType ?? view.kvType);
      if (!windows || hp.fullAttn[il]) {
        be.attention(s.att, s.q, s.qAll, n, n, view, this.full);
      } else {
        for (const [start, len] of windows) {
          const v = this.windowView(start, len);
          be.attention(v.att, v.q, v.qPos, len, n, view, v.p);
        }
      }
      linear(s.h, B.o, s.att, E);
      be.add(s.x, s.x, s.h, n * E);
      be.rmsNorm(s.h, s.x, B.ln2, eps, E, n);
      linear(s.gate, B.gate, s.h, F);
      linear(s.up, B.up, s.h, F);
      be.swiglu(s.gate, s.gate, s.up, n * F);
      linear(s.h, B.down, s.gate, E);
      be.add(s.x, s.x, s.h, n * E);
    }
    if (hp.projector === 'qwen2.5vl_merger') {
      if (w.postLn) be.rmsNorm(s.x, s.x, w.postLn, eps, E, n);
      linear(s.tmp, w.mmA, s.x, 4 * E, nM); // x read as [n/4][4·E]: a merge unit's 4 patches are consecutive rows
      be.gelu(s.tmp, s.tmp, nM * 4 * E);
      linear(s.projRows, w.mmB, s.tmp, nOut, nM);
      be.getRows(s.out, s.proj, s.outIds, nOutTok);
      return;
    }
    let src = s.x;
    let rows = n;
    if (w.merger) {
      const m2 = hp.merge * hp.merge;
      be.rmsNorm(s.h, s.x, w.inNorm, eps, E, n);
      be.getRows(s.mIn, s.h, s.mIds, n); // [nM][m²][E]
      be.matmul(s.mOut, w.merger, s.mIn, nM);
      src = s.mOut;
      rows = n / m2;
    }
    linear(s.tmp, w.mmA, src, nOut, rows);
    be.gelu(s.tmp, s.tmp, rows * nOut);
    linear(s.projRows, w.mmB, s.tmp, nOut, rows);
    be.getRows(s.out, s.proj, s.outIds, nOutTok);
  }
}
