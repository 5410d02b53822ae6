/**
 * Float64 reference of the mmproj vision encoders, written straight from the math (Hugging Face's
 * CLIPVisionModel + llava projector; SiglipVisionModel + Gemma 3's multimodal projector), sharing no code
 * with the backend path: weights are dequantized from the GGUF to float64, the patch conv is a direct
 * convolution over the 4-D kernel, attention is softmax(QKᵀ/√d)V per head.
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

/** y[t][o] = Σ_i W[o][i]·x[t][i] + b[o]; W stored as nOut rows of nIn (ggml [nIn, nOut]). */
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

function layerNorm(x: F64, nTok: number, n: number, w: F64, b: F64 | null, eps: number): F64 {
  const y = new Float64Array(x.length);
  for (let t = 0; t < nTok; t++) {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += x[t * n + i]!;
    mean /= n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (x[t * n + i]! - mean) ** 2;
    const inv = 1 / Math.sqrt(v / n + eps);
    for (let i = 0; i < n; i++) y[t * n + i] = (x[t * n + i]! - mean) * inv * w[i]! + (b ? b[i]! : 0);
  }
  return y;
}

const gelu = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
const quickGelu = (v: number) => v / (1 + Math.exp(-1.702 * v));

/** Multi-head self-attention over all nTok rows (no mask). */
function selfAttention(q: F64, k: F64, v: F64, nTok: number, nHead: number, d: number): F64 {
  const n = nHead * d;
  const out = new Float64Array(nTok * n);
  const s = new Float64Array(nTok);
  for (let h = 0; h < nHead; h++) {
    for (let i = 0; i < nTok; i++) {
      let max = -Infinity;
      for (let j = 0; j < nTok; j++) {
        let dot = 0;
        for (let c = 0; c < d; c++) dot += q[i * n + h * d + c]! * k[j * n + h * d + c]!;
        s[j] = dot / Math.sqrt(d);
        max = Math.max(max, s[j]!);
      }
      let sum = 0;
      for (let j = 0; j < nTok; j++) sum += s[j] = Math.exp(s[j]! - max);
      for (let j = 0; j < nTok; j++) {
        const p = s[j]! / sum;
        for (let c = 0; c < d; c++) out[i * n + h * d + c]! += p * v[j * n + h * d + c]!;
      }
    }
  }
  return out;
}

/** Encodes one tile (f32 CHW, normalised) → float64 [n_tokens][n_out]. */
export async function referenceEncode(file: GgufFile, chw: Float32Array): Promise<{ out: F64; nTok: number; nOut: number }> {
  const g = (k: string) => file.metadata.get(k) as number;
  const proj = file.metadata.get('clip.projector_type') as string;
  const S = g('clip.vision.image_size');
  const P = g('clip.vision.patch_size');
  const E = g('clip.vision.embedding_length');
  const F = g('clip.vision.feed_forward_length');
  const H = g('clip.vision.attention.head_count');
  const eps = g('clip.vision.attention.layer_norm_epsilon');
  const nLayer = g('clip.vision.block_count');
  const useGelu = file.metadata.get('clip.use_gelu') === true;
  const side = S / P;
  const nPatch = side * side;
  const gemma = proj === 'gemma3';
  const has = (n: string) => file.tensorByName.has(n);
  const cls = has('v.class_embd') ? await tensor(file, 'v.class_embd') : null;
  const nPos = nPatch + (cls ? 1 : 0);

  // Patch conv: out[e] = Σ_{c,ky,kx} K[e][c][ky][kx] · img[c][py·P+ky][px·P+kx] (+ bias); ggml kernel dims [P, P, 3, E].
  const K = await tensor(file, 'v.patch_embd.weight');
  const kb = has('v.patch_embd.bias') ? await tensor(file, 'v.patch_embd.bias') : null;
  let x: F64 = new Float64Array(nPos * E);
  const off = cls ? 1 : 0;
  if (cls) x.set(cls, 0);
  for (let py = 0; py < side; py++) {
    for (let px = 0; px < side; px++) {
      const row = off + py * side + px;
      for (let e = 0; e < E; e++) {
        let s = kb ? kb[e]! : 0;
        for (let c = 0; c < 3; c++) {
          for (let ky = 0; ky < P; ky++) {
            for (let kx = 0; kx < P; kx++) s += K[((e * 3 + c) * P + ky) * P + kx]! * chw[c * S * S + (py * P + ky) * S + px * P + kx]!;
          }
        }
        x[row * E + e] = s;
      }
    }
  }
  const pos = await tensor(file, 'v.position_embd.weight');
  for (let i = 0; i < nPos * E; i++) x[i]! += pos[i]!;
  if (has('v.pre_ln.weight')) x = layerNorm(x, nPos, E, await tensor(file, 'v.pre_ln.weight'), await tensor(file, 'v.pre_ln.bias'), eps);

  const nRun = gemma ? nLayer : nLayer - 1;
  for (let il = 0; il < nRun; il++) {
    const t = (n: string) => tensor(file, `v.blk.${il}.${n}`);
    const h = layerNorm(x, nPos, E, await t('ln1.weight'), await t('ln1.bias'), eps);
    const q = linear(h, nPos, E, await t('attn_q.weight'), E, await t('attn_q.bias'));
    const k = linear(h, nPos, E, await t('attn_k.weight'), E, await t('attn_k.bias'));
    const v = linear(h, nPos, E, await t('attn_v.weight'), E, await t('attn_v.bias'));
    const a = linear(selfAttention(q, k, v, nPos, H, E / H), nPos, E, await t('attn_out.weight'), E, await t('attn_out.bias'));
    for (let i = 0; i < x.length; i++) x[i]! += a[i]!;
    const h2 = layerNorm(x, nPos, E, await t('ln2.weight'), await t('ln2.bias'), eps);
    const u = linear(h2, nPos, E, await t('ffn_up.weight'), F, await t('ffn_up.bias'));
    for (let i = 0; i < u.length; i++) u[i] = useGelu ? gelu(u[i]!) : quickGelu(u[i]!);
    const d = linear(u, nPos, F, await t('ffn_down.weight'), E, await t('ffn_down.bias'));
    for (let i = 0; i < x.length; i++) x[i]! += d[i]!;
  }
  if (has('v.post_ln.weight')) x = layerNorm(x, nPos, E, await tensor(file, 'v.post_ln.weight'), await tensor(file, 'v.post_ln.bias'), eps);

  if (!gemma) {
    const feats = x.subarray(off * E); // drop the class token
    const w0 = file.tensorByName.get('mm.0.weight')!;
    const nOut = w0.dims[1]!;
    const y = linear(feats, nPatch, E, await tensor(file, 'mm.0.weight'), nOut, await tensor(file, 'mm.0.bias'));
    for (let i = 0; i < y.length; i++) y[i] = gelu(y[i]!);
    return { out: linear(y, nPatch, nOut, await tensor(file, 'mm.2.weight'), nOut, await tensor(file, 'mm.2.bias')), nTok: nPatch, nOut };
  }
  // Gemma 3: k×k average pool of the patch grid, RMSNorm · w, then x @ input_projection (GGUF [n_out, E]: E rows of n_out).
  const kk = (file.metadata.get('clip.vision.projector.scale_factor') as number | undefined) ?? 4;
  const os = side / kk;
  const nTok = os * os;
  const pooled = new Float64Array(nTok * E);
  for (let Y = 0; Y < os; Y++) {
    for (let X = 0; X < os; X++) {
      for (let dy = 0; dy < kk; dy++) {
        for (let dx = 0; dx < kk; dx++) {
          const src = ((Y * kk + dy) * side + X * kk + dx) * E;
          for (let e = 0; e < E; e++) pooled[(Y * os + X) * E + e]! += x[src + e]! / (kk * kk);
        }
      }
    }
  }
  const wn = await tensor(file, 'mm.soft_emb_norm.weight');
  for (let t = 0; t < nTok; t++) {
    let ms = 0;
    for (let e = 0; e < E; e++) ms += pooled[t * E + e]! ** 2;
    const inv = 1 / Math.sqrt(ms / E + eps);
    for (let e = 0; e < E; e++) pooled[t * E + e] = pooled[t * E + e]! * inv * wn[e]!;
  }
  const Win = await tensor(file, 'mm.input_projection.weight');
  const nOut = file.tensorByName.get('mm.input_projection.weight')!.dims[0]!;
  const out = new Float64Array(nTok * nOut);
  for (let t = 0; t < nTok; t++) {
    for (let o = 0; o < nOut; o++) {
      let s = 0;
      for (let e = 0; e < E; e++) s += pooled[t * E + e]! * Win[e * nOut + o]!;
      out[t * nOut + o] = s;
    }
  }
  return { out, nTok, nOut };
}
