/**
 * Float64 reference of the text side of a vision-language prompt, written from Hugging Face's modeling code for
 * the four families the engine pairs with projectors (LlamaForCausalLM, Gemma3ForCausalLM, Qwen2VLModel's text
 * model, MistralModel), sharing no code with src/model: weights dequantized from the GGUF to float64, each input
 * row a token embedding (Gemma: × √n_embd) or an image embedding row as given (unscaled, as llama.cpp and
 * transformers' `inputs_embeds` merge), RoPE per family with exact angles:
 *   llama, mistral3   adjacent pairs (2i, 2i + 1)            (llama.cpp's converter permutes q/k to that layout)
 *   gemma3, qwen2     NeoX halves (i, i + d/2)
 *   qwen2vl           M-RoPE: NeoX halves, pair i by stream (t, h, w) per rope.dimension_sections (rope-f64.ts)
 * and attention causal by row index, except rows of a `bidirectional` range, which see the whole range (Gemma 3
 * images: transformers' token_type_ids mask, llama.cpp's non-causal image batch).
 * Not covered (throws): sliding windows, soft caps, rope scaling.
 */
import type { GgufFile } from '../../../src/gguf/reader.ts';
import { readTensor } from '../../../src/gguf/reader.ts';
import { dequantize } from '../../../src/gguf/quant.ts';
import { ropeMultiF64 } from './rope-f64.ts';

type F64 = Float64Array;

async function tensor(file: GgufFile, name: string): Promise<F64> {
  const info = file.tensorByName.get(name);
  if (!info) throw new Error(`reference: missing ${name}`);
  return Float64Array.from(dequantize(info.type, await readTensor(file, info), info.dims.reduce((a, b) => a * b, 1)));
}
const opt = (file: GgufFile, name: string) => (file.tensorByName.has(name) ? tensor(file, name) : Promise.resolve(null));

function linear(x: F64, n: number, nIn: number, W: F64, nOut: number, b: F64 | null): F64 {
  const y = new Float64Array(n * nOut);
  for (let t = 0; t < n; t++) {
    for (let o = 0; o < nOut; o++) {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < nIn; i++) s += W[o * nIn + i]! * x[t * nIn + i]!;
      y[t * nOut + o] = s;
    }
  }
  return y;
}

/** RMSNorm over consecutive groups of `d` values. */
function rms(x: F64, d: number, w: F64, eps: number): F64 {
  const y = new Float64Array(x.length);
  for (let o = 0; o < x.length; o += d) {
    let ms = 0;
    for (let i = 0; i < d; i++) ms += x[o + i]! ** 2;
    const inv = 1 / Math.sqrt(ms / d + eps);
    for (let i = 0; i < d; i++) y[o + i] = x[o + i]! * inv * w[i]!;
  }
  return y;
}

const gelu = (v: number) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)));
const silu = (v: number) => v / (1 + Math.exp(-v));

export interface TextPromptF64 {
  /** Per row: a token id, or an image embedding row f64/f32 [n_embd]. */
  inputs: (number | Float64Array | Float32Array)[];
  /** RoPE positions: 1D (`pos[i]`), or M-RoPE streams [4][n] (qwen2vl; stream k of row i at k·n + i). */
  pos: Int32Array;
  /** Row ranges [start, end) whose rows see each other (Gemma 3 images). */
  bidirectional?: [number, number][];
}

/** Logits f64 [n_vocab] of the last row. */
export async function referenceTextLogits(file: GgufFile, p: TextPromptF64): Promise<F64> {
  const arch = file.metadata.get('general.architecture') as string;
  const num = (k: string, d?: number) => {
    const v = file.metadata.get(`${arch}.${k}`);
    if (v === undefined) {
      if (d === undefined) throw new Error(`reference: missing ${arch}.${k}`);
      return d;
    }
    return Number(v);
  };
  if (num('attention.sliding_window', 0) > 0 || file.metadata.has(`${arch}.rope.scaling.type`) || file.metadata.has(`${arch}.attn_logit_softcapping`)) {
    throw new Error('reference: sliding windows, rope scaling and soft caps are not covered');
  }
  const E = num('embedding_length'), H = num('attention.head_count'), Hk = num('attention.head_count_kv', H);
  const d = num('attention.key_length', E / H), nLayer = num('block_count'), eps = num('attention.layer_norm_rms_epsilon', 1e-5);
  const base = num('rope.freq_base', 10000), nRot = num('rope.dimension_count', d);
  const gemma = arch === 'gemma3';
  const n = p.inputs.length;
  const emb = await tensor(file, 'token_embd.weight');
  const nVocab = emb.length / E;
  const x = new Float64Array(n * E);
  p.inputs.forEach((v, i) => {
    if (typeof v === 'number') for (let c = 0; c < E; c++) x[i * E + c] = emb[v * E + c]! * (gemma ? Math.sqrt(E) : 1);
    else x.set(v, i * E);
  });

  const rope = (t: F64, nHead: number) => {
    if (arch === 'qwen2vl') {
      const sections = (file.metadata.get(`${arch}.rope.dimension_sections`) as ArrayLike<number>);
      ropeMultiF64(t, n, { mode: 'mrope', nHead, headDim: d, nRot, base, sections: Array.from(sections).map(Number) }, (k, r) => p.pos[k * n + r]!);
      return;
    }
    const neox = arch === 'gemma3' || arch === 'qwen2';
    for (let r = 0; r < n; r++) {
      for (let h = 0; h < nHead; h++) {
        const o = (r * nHead + h) * d;
        for (let i = 0; i < nRot / 2; i++) {
          const th = p.pos[r]! * Math.pow(base, (-2 * i) / nRot);
          const [a, b] = neox ? [o + i, o + i + nRot / 2] : [o + 2 * i, o + 2 * i + 1];
          const x0 = t[a]!, x1 = t[b]!;
          t[a] = x0 * Math.cos(th) - x1 * Math.sin(th);
          t[b] = x0 * Math.sin(th) + x1 * Math.cos(th);
        }
      }
    }
  };
  const sees = (i: number, j: number) => j <= i || (p.bidirectional ?? []).some(([s, e]) => i >= s && i < e && j >= s && j < e);

  for (let il = 0; il < nLayer; il++) {
    const w = (s: string) => tensor(file, `blk.${il}.${s}`);
    const o = (s: string) => opt(file, `blk.${il}.${s}`);
    const h = rms(x, E, await w('attn_norm.weight'), eps);
    let q = linear(h, n, E, await w('attn_q.weight'), H * d, await o('attn_q.bias'));
    let k = linear(h, n, E, await w('attn_k.weight'), Hk * d, await o('attn_k.bias'));
    const v = linear(h, n, E, await w('attn_v.weight'), Hk * d, await o('attn_v.bias'));
    const qn = await o('attn_q_norm.weight'), kn = await o('attn_k_norm.weight');
    if (qn) q = rms(q, d, qn, eps);
    if (kn) k = rms(k, d, kn, eps);
    rope(q, H);
    rope(k, Hk);
    const att = new Float64Array(n * H * d);
    for (let hh = 0; hh < H; hh++) {
      const kh = Math.floor(hh / (H / Hk));
      for (let i = 0; i < n; i++) {
        const sc = new Float64Array(n).fill(-Infinity);
        let mx = -Infinity;
        for (let j = 0; j < n; j++) {
          if (!sees(i, j)) continue;
          let s = 0;
          for (let c = 0; c < d; c++) s += q[(i * H + hh) * d + c]! * k[(j * Hk + kh) * d + c]!;
          sc[j] = s / Math.sqrt(d);
          mx = Math.max(mx, sc[j]!);
        }
        let sum = 0;
        for (let j = 0; j < n; j++) sum += sc[j] = Math.exp(sc[j]! - mx);
        for (let j = 0; j < n; j++) if (sc[j]) for (let c = 0; c < d; c++) att[(i * H + hh) * d + c]! += (sc[j]! / sum) * v[(j * Hk + kh) * d + c]!;
      }
    }
    let a = linear(att, n, H * d, await w('attn_output.weight'), E, null);
    const pa = await o('post_attention_norm.weight');
    if (pa) a = rms(a, E, pa, eps);
    for (let i = 0; i < x.length; i++) x[i]! += a[i]!;
    const h2 = rms(x, E, await w('ffn_norm.weight'), eps);
    const F = file.tensorByName.get(`blk.${il}.ffn_gate.weight`)!.dims[1]!;
    const g = linear(h2, n, E, await w('ffn_gate.weight'), F, null);
    const u = linear(h2, n, E, await w('ffn_up.weight'), F, null);
    for (let i = 0; i < g.length; i++) g[i] = (gemma ? gelu(g[i]!) : silu(g[i]!)) * u[i]!;
    let f = linear(g, n, F, await w('ffn_down.weight'), E, null);
    const pf = await o('post_ffw_norm.weight');
    if (pf) f = rms(f, E, pf, eps);
    for (let i = 0; i < x.length; i++) x[i]! += f[i]!;
  }
  const last = rms(x.subarray((n - 1) * E), E, await tensor(file, 'output_norm.weight'), eps);
  const out = (await opt(file, 'output.weight')) ?? emb;
  return linear(last, 1, E, out, nVocab, null);
}

/** log-softmax of f64 logits. */
export function logSoftmax(l: F64): F64 {
  let mx = -Infinity;
  for (const v of l) mx = Math.max(mx, v);
  let s = 0;
  for (const v of l) s += Math.exp(v - mx);
  const lse = mx + Math.log(s);
  return l.map((v) => v - lse);
}
