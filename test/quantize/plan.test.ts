/**
 * The per-tensor type plan against llama.cpp's documented choices (llama-quant.cpp `llama_tensor_get_type`,
 * no importance matrix), on the tensor list of a llama model.
 */
import { describe, expect, it } from 'vitest';
import { GgmlType } from '../../src/gguf/types.ts';
import { planTypes, quantTarget, useMoreBits } from '../../src/quantize/index.ts';

function llamaTensors(nLayer: number, nEmbd = 4096, nFf = 11008, tied = false) {
  const t: { name: string; dims: number[]; type: GgmlType }[] = [{ name: 'token_embd.weight', dims: [nEmbd, 32000], type: GgmlType.F16 }];
  for (let i = 0; i < nLayer; i++) {
    const b = `blk.${i}.`;
    t.push(
      { name: `${b}attn_norm.weight`, dims: [nEmbd], type: GgmlType.F32 },
      { name: `${b}attn_q.weight`, dims: [nEmbd, nEmbd], type: GgmlType.F16 },
      { name: `${b}attn_k.weight`, dims: [nEmbd, nEmbd], type: GgmlType.F16 },
      { name: `${b}attn_v.weight`, dims: [nEmbd, nEmbd], type: GgmlType.F16 },
      { name: `${b}attn_output.weight`, dims: [nEmbd, nEmbd], type: GgmlType.F16 },
      { name: `${b}ffn_norm.weight`, dims: [nEmbd], type: GgmlType.F32 },
      { name: `${b}ffn_gate.weight`, dims: [nEmbd, nFf], type: GgmlType.F16 },
      { name: `${b}ffn_up.weight`, dims: [nEmbd, nFf], type: GgmlType.F16 },
      { name: `${b}ffn_down.weight`, dims: [nFf, nEmbd], type: GgmlType.F16 },
    );
  }
  t.push({ name: 'output_norm.weight', dims: [nEmbd], type: GgmlType.F32 });
  if (!tied) t.push({ name: 'output.weight', dims: [nEmbd, 32000], type: GgmlType.F16 });
  return t;
}

const plan = (target: string, tensors = llamaTensors(32), nGqa = 1) => planTypes(tensors, { arch: 'llama', nGqa }, quantTarget(target)!);

describe('quantization plan (llama.cpp llama_tensor_get_type)', () => {
  it('use_more_bits picks the first and last eighth and every third layer between', () => {
    const more = Array.from({ length: 32 }, (_, i) => i).filter((i) => useMoreBits(i, 32));
    // Llama-2-7B Q4_K_M as published: attn_v/ffn_down in Q6_K in these 16 of 32 layers.
    expect(more).toEqual([0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31]);
  });

  it('Q4_K_M: Q6_K output and half the attn_v/ffn_down, Q4_K elsewhere, norms F32', () => {
    const p = plan('Q4_K_M');
    expect(p.get('output.weight')).toBe(GgmlType.Q6_K);
    expect(p.get('token_embd.weight')).toBe(GgmlType.Q4_K);
    expect(p.get('blk.0.attn_norm.weight')).toBe(GgmlType.F32);
    for (let i = 0; i < 32; i++) {
      const want = useMoreBits(i, 32) ? GgmlType.Q6_K : GgmlType.Q4_K;
      expect(p.get(`blk.${i}.attn_v.weight`)).toBe(want);
      expect(p.get(`blk.${i}.ffn_down.weight`)).toBe(want);
      expect(p.get(`blk.${i}.attn_q.weight`)).toBe(GgmlType.Q4_K);
      expect(p.get(`blk.${i}.ffn_up.weight`)).toBe(GgmlType.Q4_K);
    }
  });

  it('Q4_K_S, Q3_K_M, Q2_K and Q5_K_M follow their own rules', () => {
    const s = plan('Q4_K_S');
    expect([0, 1, 2, 3, 4].map((i) => s.get(`blk.${i}.attn_v.weight`))).toEqual([GgmlType.Q5_K, GgmlType.Q5_K, GgmlType.Q5_K, GgmlType.Q5_K, GgmlType.Q4_K]);
    expect([3, 4].map((i) => s.get(`blk.${i}.ffn_down.weight`))).toEqual([GgmlType.Q5_K, GgmlType.Q4_K]);
    const m3 = plan('Q3_K_M');
    expect([0, 1, 2].map((i) => m3.get(`blk.${i}.attn_v.weight`))).toEqual([GgmlType.Q5_K, GgmlType.Q5_K, GgmlType.Q4_K]);
    expect([0, 1, 2].map((i) => m3.get(`blk.${i}.ffn_down.weight`))).toEqual([GgmlType.Q5_K, GgmlType.Q5_K, GgmlType.Q4_K]);
    expect(m3.get('blk.5.attn_output.weight')).toBe(GgmlType.Q4_K);
    expect(m3.get('blk.5.attn_q.weight')).toBe(GgmlType.Q3_K);
    const q2 = plan('Q2_K', llamaTensors(32), 4);
    expect(q2.get('blk.9.attn_v.weight')).toBe(GgmlType.Q4_K);
    expect(q2.get('blk.9.ffn_down.weight')).toBe(GgmlType.Q3_K);
    expect(q2.get('blk.9.ffn_gate.weight')).toBe(GgmlType.Q2_K);
    const m5 = plan('Q5_K_M');
    expect(m5.get('blk.6.ffn_down.weight')).toBe(GgmlType.Q6_K);
    expect(m5.get('blk.7.ffn_down.weight')).toBe(GgmlType.Q5_K);
  });

  it('Q3_K_S, Q3_K_L, Q2_K without GQA and IQ4_XS (llama-quant.cpp, dense llama, no imatrix)', () => {
    const s3 = plan('Q3_K_S');
    for (const t of ['attn_q', 'attn_v', 'attn_output', 'ffn_down', 'ffn_up']) expect(s3.get(`blk.7.${t}.weight`), t).toBe(GgmlType.Q3_K);
    expect(s3.get('output.weight')).toBe(GgmlType.Q6_K);
    const l3 = plan('Q3_K_L');
    expect(l3.get('blk.7.attn_v.weight')).toBe(GgmlType.Q5_K);
    expect(l3.get('blk.7.ffn_down.weight')).toBe(GgmlType.Q5_K);
    expect(l3.get('blk.7.attn_output.weight')).toBe(GgmlType.Q5_K);
    expect(l3.get('blk.7.ffn_gate.weight')).toBe(GgmlType.Q3_K);
    const q2 = plan('Q2_K'); // n_gqa 1: attn_v in Q3_K
    expect(q2.get('blk.0.attn_v.weight')).toBe(GgmlType.Q3_K);
    expect(q2.get('blk.0.attn_output.weight')).toBe(GgmlType.Q3_K);
    expect(q2.get('token_embd.weight')).toBe(GgmlType.Q2_K);
    const xs = plan('IQ4_XS', llamaTensors(32), 4);
    expect([3, 4].map((i) => xs.get(`blk.${i}.ffn_down.weight`))).toEqual([GgmlType.Q5_K, GgmlType.IQ4_XS]); // first n/8 layers
    expect(xs.get('blk.9.attn_v.weight')).toBe(GgmlType.Q5_K); // n_gqa >= 4
    expect(plan('IQ4_XS').get('blk.9.attn_v.weight')).toBe(GgmlType.IQ4_XS);
    expect(xs.get('output.weight')).toBe(GgmlType.Q6_K);
  });

  it('Q2_K/Q3_K rows no 256-block divides fall back to Q4_0, IQ4_XS to IQ4_NL (tensor_type_fallback)', () => {
    const t = llamaTensors(8, 4096 + 32, 11008 + 32);
    expect(plan('Q3_K_S', t).get('blk.2.attn_q.weight')).toBe(GgmlType.Q4_0);
    expect(plan('Q2_K', t).get('blk.2.ffn_up.weight')).toBe(GgmlType.Q4_0);
    expect(plan('IQ4_XS', t).get('blk.2.attn_q.weight')).toBe(GgmlType.IQ4_NL);
  });

  it('legacy types: output in Q6_K (Q8_0 stays Q8_0), everything else the base type', () => {
    for (const [target, base] of [['Q4_0', GgmlType.Q4_0], ['Q5_1', GgmlType.Q5_1], ['Q8_0', GgmlType.Q8_0]] as const) {
      const p = plan(target);
      expect(p.get('output.weight')).toBe(base === GgmlType.Q8_0 ? GgmlType.Q8_0 : GgmlType.Q6_K);
      expect(p.get('blk.3.ffn_down.weight')).toBe(base);
      expect(p.get('blk.3.attn_v.weight')).toBe(base);
    }
  });

  it('tied embeddings: token_embd is quantized as the output matrix', () => {
    expect(plan('Q4_K_M', llamaTensors(4, 4096, 11008, true)).get('token_embd.weight')).toBe(GgmlType.Q6_K);
  });

  it('rows that no 256-block divides fall back as llama.cpp does', () => {
    const p = plan('Q4_K_M', llamaTensors(8, 4096 + 32, 11008 + 32));
    expect(p.get('blk.2.attn_q.weight')).toBe(GgmlType.Q5_0);
    expect(p.get('blk.0.attn_v.weight')).toBe(GgmlType.Q8_0); // Q6_K → Q8_0
    expect(p.get('output.weight')).toBe(GgmlType.Q8_0); // the output rule itself picks Q8_0
  });

  it('F16 / BF16 / F32 targets convert every weight and keep norms', () => {
    const p = plan('F16');
    expect(p.get('output.weight')).toBe(GgmlType.F16);
    expect(p.get('blk.0.ffn_norm.weight')).toBe(GgmlType.F32);
  });
});
