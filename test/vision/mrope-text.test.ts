/**
 * The qwen2vl text model with image-style M-RoPE positions (t fixed over an image's rows, (h, w) its token
 * grid; llama.cpp's layout for Qwen2-VL prompts) against a float64 reference of the whole one-layer model
 * written here (embedding, RMSNorm, q/k/v + biases, M-RoPE from reference/rope-f64.ts, causal GQA attention by
 * KV position, SwiGLU FFN, output norm and matrix). Text-only positions are covered against llama.cpp by
 * test/e2e/qwen2vl-vs-llamacpp.test.ts.
 *
 * Tolerance: max |Δ logit| ≤ 1e-4·max |logit| (F32 weights, F32 KV cache, f32 accumulation; measured figures printed).
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WasmBackend } from '../../src/backend/wasm/backend.ts';
import { openGguf, readTensor, type GgufFile } from '../../src/gguf/reader.ts';
import { dequantize } from '../../src/gguf/quant.ts';
import { GgmlType } from '../../src/gguf/types.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { mropeSections, writeSyntheticLlama } from '../../src/synth/llama.ts';
import { qwenImagePositions } from '../../src/vision/encoder/index.ts';
import { ropeMultiF64 } from './reference/rope-f64.ts';

const DIR = join(tmpdir(), `tessera-mrope-${process.pid}`);
mkdirSync(DIR, { recursive: true });
const SPEC = { arch: 'qwen2vl', nEmbd: 64, nLayer: 1, nHead: 4, nHeadKv: 2, nFf: 128, nVocab: 96, ropeBase: 10000, residualScale: 0.5, qkScale: 1, type: 'F32', seed: 7, tokenizer: {} } as const;

async function t64(file: GgufFile, name: string): Promise<Float64Array> {
  const info = file.tensorByName.get(name)!;
  return Float64Array.from(dequantize(info.type, await readTensor(file, info), info.dims.reduce((a, b) => a * b, 1)));
}
const lin = (x: Float64Array, n: number, nIn: number, W: Float64Array, nOut: number, b?: Float64Array) => {
  const y = new Float64Array(n * nOut);
  for (let t = 0; t < n; t++) for (let o = 0; o < nOut; o++) {
    let s = b ? b[o]! : 0;
    for (let i = 0; i < nIn; i++) s += W[o * nIn + i]! * x[t * nIn + i]!;
    y[t * nOut + o] = s;
  }
  return y;
};
const rms = (x: Float64Array, n: number, d: number, w: Float64Array, eps: number) => {
  const y = new Float64Array(x.length);
  for (let t = 0; t < n; t++) {
    let ms = 0;
    for (let i = 0; i < d; i++) ms += x[t * d + i]! ** 2;
    const inv = 1 / Math.sqrt(ms / d + eps);
    for (let i = 0; i < d; i++) y[t * d + i] = x[t * d + i]! * inv * w[i]!;
  }
  return y;
};

/** Logits `[n][n_vocab]` of tokens at KV positions 0..n−1 with RoPE streams `mpos` `[4][n]`. */
async function reference(file: GgufFile, tokens: number[], mpos: Int32Array): Promise<Float64Array> {
  const E = SPEC.nEmbd, H = SPEC.nHead, Hk = SPEC.nHeadKv, d = E / H, F = SPEC.nFf, V = SPEC.nVocab, n = tokens.length, eps = 1e-5;
  const emb = await t64(file, 'token_embd.weight');
  const x = new Float64Array(n * E);
  tokens.forEach((tok, i) => x.set(emb.subarray(tok * E, (tok + 1) * E), i * E));
  const g = (s: string) => t64(file, `blk.0.${s}`);
  const h = rms(x, n, E, await g('attn_norm.weight'), eps);
  const q = lin(h, n, E, await g('attn_q.weight'), E, await g('attn_q.bias'));
  const k = lin(h, n, E, await g('attn_k.weight'), Hk * d, await g('attn_k.bias'));
  const v = lin(h, n, E, await g('attn_v.weight'), Hk * d, await g('attn_v.bias'));
  const sections = mropeSections(d);
  ropeMultiF64(q, n, { mode: 'mrope', nHead: H, headDim: d, nRot: d, base: SPEC.ropeBase, sections }, (s, t) => mpos[s * n + t]!);
  ropeMultiF64(k, n, { mode: 'mrope', nHead: Hk, headDim: d, nRot: d, base: SPEC.ropeBase, sections }, (s, t) => mpos[s * n + t]!);
  const att = new Float64Array(n * E);
  for (let hh = 0; hh < H; hh++) {
    const kh = Math.floor(hh / (H / Hk));
    for (let i = 0; i < n; i++) {
      const sc = Array.from({ length: i + 1 }, (_, j) => {
        let s = 0;
        for (let c = 0; c < d; c++) s += q[i * E + hh * d + c]! * k[j * Hk * d + kh * d + c]!;
        return s / Math.sqrt(d);
      });
      const mx = Math.max(...sc);
      const ex = sc.map((s) => Math.exp(s - mx));
      const sum = ex.reduce((a, b) => a + b, 0);
      for (let j = 0; j <= i; j++) for (let c = 0; c < d; c++) att[i * E + hh * d + c]! += (ex[j]! / sum) * v[j * Hk * d + kh * d + c]!;
    }
  }
  const o = lin(att, n, E, await g('attn_output.weight'), E);
  for (let i = 0; i < x.length; i++) x[i]! += o[i]!;
  const h2 = rms(x, n, E, await g('ffn_norm.weight'), eps);
  const gt = lin(h2, n, E, await g('ffn_gate.weight'), F);
  const up = lin(h2, n, E, await g('ffn_up.weight'), F);
  for (let i = 0; i < gt.length; i++) gt[i] = (gt[i]! / (1 + Math.exp(-gt[i]!))) * up[i]!;
  const dn = lin(gt, n, F, await g('ffn_down.weight'), E);
  for (let i = 0; i < x.length; i++) x[i]! += dn[i]!;
  return lin(rms(x, n, E, await t64(file, 'output_norm.weight'), eps), n, E, await t64(file, 'output.weight'), V);
}

let be: WasmBackend;
beforeAll(async () => {
  be = await WasmBackend.create({ threads: 2 });
});
afterAll(async () => {
  await be?.close();
});

describe('qwen2vl text model with M-RoPE image positions', () => {
  it('matches the float64 reference; explicit (p, p, p, 0) equals the default; image positions change the logits', async () => {
    const path = join(DIR, 'qwen2vl.gguf');
    await writeSyntheticLlama(path, SPEC);
    const file = await openGguf(path);
    const n = 11;
    const model = await LlamaModel.load(file, be, { nCtx: 32, maxTokens: 16, logitRows: n, kvType: GgmlType.F32 });
    const tokens = Array.from({ length: n }, (_, i) => (i * 37 + 5) % SPEC.nVocab);
    // 2 text tokens, a 2×3 image (t = 2 for all, h/w its grid, offset by the start), then text from t = 2 + max(2, 3).
    const mpos = new Int32Array(4 * n);
    const set = (i: number, t: number, hh: number, w: number) => {
      mpos[i] = t; mpos[n + i] = hh; mpos[2 * n + i] = w; mpos[3 * n + i] = 0;
    };
    set(0, 0, 0, 0); set(1, 1, 1, 1);
    const next = qwenImagePositions(mpos, n, 2, 2, 2, 3);
    expect(next).toBe(5);
    expect([mpos[2 + 4], mpos[n + 2 + 4], mpos[2 * n + 2 + 4]]).toEqual([2, 3, 3]); // token (y 1, x 1)
    for (let i = 8; i < n; i++) set(i, next + i - 8, next + i - 8, next + i - 8);
    const run = async (explicit: Int32Array | null) => {
      model.inputTokens.set(tokens);
      model.inputPositions.set(Array.from({ length: n }, (_, i) => i));
      if (explicit) {
        model.mropePositions!.set(explicit);
        model.mropeExplicit = true;
      }
      await model.forward(n, n, n);
      return Float32Array.from(model.logits.subarray(0, n * SPEC.nVocab));
    };
    const got = await run(mpos);
    const ref = await reference(file, tokens, mpos);
    let maxRef = 0, maxErr = 0;
    for (let i = 0; i < ref.length; i++) {
      maxRef = Math.max(maxRef, Math.abs(ref[i]!));
      maxErr = Math.max(maxErr, Math.abs(got[i]! - ref[i]!));
    }
    console.log(`qwen2vl M-RoPE image positions: max |Δ logit| ${maxErr.toExponential(2)} (max |logit| ${maxRef.toFixed(2)})`);
    expect(maxErr).toBeLessThanOrEqual(1e-4 * maxRef);

    const textPos = new Int32Array(4 * n);
    for (let i = 0; i < n; i++) for (let s = 0; s < 3; s++) textPos[s * n + i] = i;
    const dflt = await run(null);
    {
      const r2 = await reference(file, tokens, textPos);
      let e2 = 0;
      for (let i = 0; i < r2.length; i++) e2 = Math.max(e2, Math.abs(dflt[i]! - r2[i]!));
      console.log(`qwen2vl M-RoPE text positions: max |Δ logit| ${e2.toExponential(2)}`);
      expect(e2).toBeLessThanOrEqual(1e-4 * maxRef);
    }
    expect(await run(textPos)).toEqual(dflt);
    let diff = 0;
    for (let i = 0; i < got.length; i++) diff = Math.max(diff, Math.abs(got[i]! - dflt[i]!));
    expect(diff).toBeGreaterThan(1e-2);
  });
});
