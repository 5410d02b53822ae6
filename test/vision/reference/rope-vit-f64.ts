/**
 * Float64 reference of the 2D-RoPE vision towers (Pixtral / Mistral 3, Qwen2.5-VL), written from Hugging
 * Face's PixtralVisionModel + Mistral3 projector and Qwen2_5_VisionTransformer, sharing no code with the
 * backend path: patches in the models' own order (Pixtral raster; Qwen merge units in raster order with their
 * 2×2 patches inside), direct convolution, RoPE in the Hugging Face form (rotate_half over the head for Qwen;
 * adjacent pairs with interleaved row/col frequencies for Pixtral, whose q/k llama.cpp's converter permutes
 * to that layout), window attention as an explicit mask (patches see the patches of their window).
 */
import type { GgufFile } from '../../../src/gguf/reader.ts';
import { readTensor } from '../../../src/gguf/reader.ts';
import { dequantize } from '../../../src/gguf/quant.ts';

type F64 = Float64Array;

async function tensor(file: GgufFile, name: string): Promise<F64> {
  const info = file.tensorByName.get(name);
  if (!info) throw new Error(`reference: missing ${name}`);
  const n = info.dims.reduce((a, b) => a * b, 1);
  return Float64Array.from(dequantize(info.type, await readTensor(file, info), n));
}
async function opt(file: GgufFile, name: string): Promise<F64 | null> {
  return file.tensorByName.has(name) ? tensor(file, name) : null;
}

function linear(x: F64, nTok: number, nIn: number, W: F64, nOut: number, b: F64 | null): F64 {
  const y = new Float64Array(nTok * nOut);
  for (let t = 0; t < nTok; t++) {
    for (let o = 0; o < nOut; o++) {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < nIn; i++) s += W[o * nIn + i]! * x[t * nIn + i]!;
      y[t * nOut + o] = s;
    }
  }
  return y;
}

function rmsNorm(x: F64, nTok: number, n: number, w: F64, eps: number): F64 {
  const y = new Float64Array(x.length);
  for (let t = 0; t < nTok; t++) {
    let ms = 0;
    for (let i = 0; i < n; i++) ms += x[t * n + i]! ** 2;
    const inv = 1 / Math.sqrt(ms / n + eps);
    for (let i = 0; i < n; i++) y[t * n + i] = x[t * n + i]! * inv * w[i]!;
  }
  return y;
}

const gelu = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
const silu = (v: number) => v / (1 + Math.exp(-v));

/** Attention with `sees(i, j)`; q, k, v rows [nTok][nHead·d]. */
function attention(q: F64, k: F64, v: F64, nTok: number, nHead: number, d: number, sees: (i: number, j: number) => boolean): F64 {
  const n = nHead * d;
  const out = new Float64Array(nTok * n);
  const s = new Float64Array(nTok);
  for (let h = 0; h < nHead; h++) {
    for (let i = 0; i < nTok; i++) {
      let max = -Infinity;
      for (let j = 0; j < nTok; j++) {
        if (!sees(i, j)) {
          s[j] = -Infinity;
          continue;
        }
        let dot = 0;
        for (let c = 0; c < d; c++) dot += q[i * n + h * d + c]! * k[j * n + h * d + c]!;
        s[j] = dot / Math.sqrt(d);
        max = Math.max(max, s[j]!);
      }
      let sum = 0;
      for (let j = 0; j < nTok; j++) sum += s[j] = Math.exp(s[j]! - max);
      for (let j = 0; j < nTok; j++) {
        const p = s[j]! / sum;
        if (p) for (let c = 0; c < d; c++) out[i * n + h * d + c]! += p * v[j * n + h * d + c]!;
      }
    }
  }
  return out;
}

/** Rotates pairs (a, b) of every head of every row by θ(pair, row). */
function rotate(x: F64, nTok: number, nHead: number, d: number, pairs: [number, number][], theta: (pair: number, t: number) => number): void {
  for (let t = 0; t < nTok; t++) {
    for (let h = 0; h < nHead; h++) {
      const o = (t * nHead + h) * d;
      pairs.forEach(([a, b], i) => {
        const th = theta(i, t);
        const c = Math.cos(th), s = Math.sin(th);
        const x0 = x[o + a]!, x1 = x[o + b]!;
        x[o + a] = x0 * c - x1 * s;
        x[o + b] = x0 * s + x1 * c;
      });
    }
  }
}

export interface RopeVitResult {
  out: F64;
  nTok: number;
  nOut: number;
}

/** Encodes one image (f32 CHW `[3][height][width]`, normalised) → float64 rows in the encoder's output order. */
export async function referenceRopeEncode(file: GgufFile, chw: Float32Array, width: number, height: number): Promise<RopeVitResult> {
  const g = (k: string) => file.metadata.get(k) as number;
  const qwen = file.metadata.get('clip.projector_type') === 'qwen2.5vl_merger';
  const P = g('clip.vision.patch_size');
  const E = g('clip.vision.embedding_length');
  const F = g('clip.vision.feed_forward_length');
  const H = g('clip.vision.attention.head_count');
  const d = E / H;
  const eps = g('clip.vision.attention.layer_norm_epsilon');
  const nLayer = g('clip.vision.block_count');
  const pw = width / P, ph = height / P;
  const n = pw * ph;
  // patch order: (row, col) of each sequence position
  const order: [number, number][] = [];
  if (qwen) {
    for (let Y = 0; Y < ph / 2; Y++) for (let X = 0; X < pw / 2; X++) for (let dy = 0; dy < 2; dy++) for (let dx = 0; dx < 2; dx++) order.push([2 * Y + dy, 2 * X + dx]);
  } else {
    for (let y = 0; y < ph; y++) for (let x = 0; x < pw; x++) order.push([y, x]);
  }

  // Conv (Qwen: the 3D conv over two identical frames = the sum of its two temporal slices).
  const kernels = [await tensor(file, 'v.patch_embd.weight'), ...(qwen ? [await tensor(file, 'v.patch_embd.weight.1')] : [])];
  const kb = await opt(file, 'v.patch_embd.bias');
  let x: F64 = new Float64Array(n * E);
  order.forEach(([py, px], r) => {
    for (let e = 0; e < E; e++) {
      let s = kb ? kb[e]! : 0;
      for (const K of kernels) {
        for (let c = 0; c < 3; c++) {
          for (let ky = 0; ky < P; ky++) {
            for (let kx = 0; kx < P; kx++) s += K[((e * 3 + c) * P + ky) * P + kx]! * chw[c * width * height + (py * P + ky) * width + px * P + kx]!;
          }
        }
      }
      x[r * E + e] = s;
    }
  });
  const pre = await opt(file, 'v.pre_ln.weight');
  if (pre) x = rmsNorm(x, n, E, pre, eps);

  // RoPE, θ = pos · inv_freq.
  const base = 10000;
  let pairs: [number, number][];
  let theta: (i: number, t: number) => number;
  if (qwen) {
    // Qwen2_5_VisionRotaryEmbedding(d/2): inv_freq_j = base^(−2j/(d/2)), j < d/4; freqs = cat(row·inv, col·inv);
    // emb = cat(freqs, freqs); rotate_half: pair (i, i + d/2).
    pairs = Array.from({ length: d / 2 }, (_, i) => [i, i + d / 2]);
    theta = (i, t) => order[t]![i < d / 4 ? 0 : 1] * Math.pow(base, (-2 * (i % (d / 4))) / (d / 2));
  } else {
    // Pixtral: freqs_k = base^(−2k/d), k < d/2; rows take the even ones, cols the odd ones; inv = cat(row, col);
    // in llama's adjacent-pair layout pair m rotates (2m, 2m+1) with inv[m].
    pairs = Array.from({ length: d / 2 }, (_, m) => [2 * m, 2 * m + 1]);
    theta = (m, t) => (m < d / 4 ? order[t]![0] * Math.pow(base, (-2 * (2 * m)) / d) : order[t]![1] * Math.pow(base, (-2 * (2 * (m - d / 4) + 1)) / d));
  }

  // Window attention (Qwen): merge unit (Y, X) is in window (⌊Y/g⌋, ⌊X/g⌋).
  const pattern = (file.metadata.get('clip.vision.n_wa_pattern') as number | undefined) ?? 0;
  const gw = pattern ? Math.floor(((file.metadata.get('clip.vision.window_size') as number | undefined) ?? 112) / P / 2) : 0;
  const windowOf = (t: number) => {
    const [py, px] = order[t]!;
    return `${Math.floor(py / 2 / gw)},${Math.floor(px / 2 / gw)}`;
  };
  const wins = gw ? order.map((_, t) => windowOf(t)) : null;

  for (let il = 0; il < nLayer; il++) {
    const t = (nm: string) => tensor(file, `v.blk.${il}.${nm}`);
    const o = (nm: string) => opt(file, `v.blk.${il}.${nm}`);
    const h = rmsNorm(x, n, E, await t('ln1.weight'), eps);
    const q = linear(h, n, E, await t('attn_q.weight'), E, await o('attn_q.bias'));
    const k = linear(h, n, E, await t('attn_k.weight'), E, await o('attn_k.bias'));
    const v = linear(h, n, E, await t('attn_v.weight'), E, await o('attn_v.bias'));
    rotate(q, n, H, d, pairs, theta);
    rotate(k, n, H, d, pairs, theta);
    const full = !wins || (il + 1) % pattern === 0;
    const a = attention(q, k, v, n, H, d, full ? () => true : (i, j) => wins![i] === wins![j]);
    const ao = linear(a, n, E, await t('attn_out.weight'), E, await o('attn_out.bias'));
    for (let i = 0; i < x.length; i++) x[i]! += ao[i]!;
    const h2 = rmsNorm(x, n, E, await t('ln2.weight'), eps);
    const gt = linear(h2, n, E, await t('ffn_gate.weight'), F, await o('ffn_gate.bias'));
    const up = linear(h2, n, E, await t('ffn_up.weight'), F, await o('ffn_up.bias'));
    for (let i = 0; i < gt.length; i++) gt[i] = silu(gt[i]!) * up[i]!;
    const dn = linear(gt, n, F, await t('ffn_down.weight'), E, await o('ffn_down.bias'));
    for (let i = 0; i < x.length; i++) x[i]! += dn[i]!;
  }

  if (qwen) {
    // Qwen2_5_VLPatchMerger: ln_q (RMSNorm), view(−1, 4·E), Linear, GELU, Linear — merge units in raster order.
    x = rmsNorm(x, n, E, await tensor(file, 'v.post_ln.weight'), eps);
    const nM = n / 4;
    const y = linear(x, nM, 4 * E, await tensor(file, 'mm.0.weight'), 4 * E, await tensor(file, 'mm.0.bias'));
    for (let i = 0; i < y.length; i++) y[i] = gelu(y[i]!);
    const nOut = file.tensorByName.get('mm.2.weight')!.dims[1]!;
    return { out: linear(y, nM, 4 * E, await tensor(file, 'mm.2.weight'), nOut, await tensor(file, 'mm.2.bias')), nTok: nM, nOut };
  }
  // Mistral3: patch merger (RMSNorm, unfold m×m: feature c·m² + ky·m + kx, Linear without bias), then
  // Linear, GELU, Linear; rows of tokens separated by the [IMG_BREAK] embedding.
  const m = (file.metadata.get('clip.vision.spatial_merge_size') as number | undefined) ?? 1;
  let feats = x;
  let rows = ph, cols = pw;
  if (m > 1 && file.tensorByName.has('mm.patch_merger.weight')) {
    const xn = rmsNorm(x, n, E, await tensor(file, 'mm.input_norm.weight'), eps);
    rows = ph / m;
    cols = pw / m;
    const unf = new Float64Array(rows * cols * m * m * E);
    for (let Y = 0; Y < rows; Y++) {
      for (let X = 0; X < cols; X++) {
        for (let c = 0; c < E; c++) {
          for (let ky = 0; ky < m; ky++) {
            for (let kx = 0; kx < m; kx++) unf[(Y * cols + X) * m * m * E + c * m * m + ky * m + kx] = xn[((Y * m + ky) * pw + X * m + kx) * E + c]!;
          }
        }
      }
    }
    feats = linear(unf, rows * cols, m * m * E, await tensor(file, 'mm.patch_merger.weight'), E, null);
  }
  const nOut = file.tensorByName.get('mm.2.weight')!.dims[1]!;
  const y = linear(feats, rows * cols, E, await tensor(file, 'mm.1.weight'), nOut, await tensor(file, 'mm.1.bias'));
  for (let i = 0; i < y.length; i++) y[i] = gelu(y[i]!);
  const e = linear(y, rows * cols, nOut, await tensor(file, 'mm.2.weight'), nOut, await tensor(file, 'mm.2.bias'));
  const brk = await tensor(file, 'v.token_embd.img_break');
  const nTok = rows * cols + rows - 1;
  const out = new Float64Array(nTok * nOut);
  let r = 0;
  for (let Y = 0; Y < rows; Y++) {
    out.set(e.subarray(Y * cols * nOut, (Y + 1) * cols * nOut), r * nOut);
    r += cols;
    if (Y < rows - 1) out.set(brk, r++ * nOut);
  }
  return { out, nTok, nOut };
}
