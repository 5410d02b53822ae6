/**
 * `quantizeGguf` / `tessera quantize` on a synthetic F32 llama: the file llama.cpp loads gives the
 * same logits as in Tessera (tolerances of test/e2e/llama-vs-llamacpp.test.ts), and bad requests are
 * refused with a named error before anything is written.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/index.ts';
import { openGguf } from '../../src/gguf/reader.ts';
import { ggmlTypeName } from '../../src/gguf/ggml-types.ts';
import { GgmlType } from '../../src/gguf/types.ts';
import { QuantizeError, quantizeGguf } from '../../src/quantize/index.ts';
import { writeSyntheticLlama } from '../../src/synth/index.ts';
import { llama2VocabMetadata } from '../fixtures/vocab.ts';
import { logSoftmax, runLlamaCpp } from '../helpers/llamacpp.ts';

const DIR = join(tmpdir(), 'tessera-quantize');
const SRC = join(DIR, 'src-f32.gguf');
const SHAPE = { nEmbd: 256, nLayer: 2, nHead: 8, nHeadKv: 2, nFf: 768, residualScale: 0.15, qkScale: 0.5 };
const PROMPT = Array.from({ length: 32 }, (_, i) => (i === 0 ? 1 : 300 + ((i * 7919) % 29000)));

beforeAll(async () => {
  mkdirSync(DIR, { recursive: true });
  await writeSyntheticLlama(SRC, { ...SHAPE, type: 'F32', seed: 7, tokenizer: llama2VocabMetadata() });
});
afterAll(() => rmSync(DIR, { recursive: true, force: true }));

describe('quantizeGguf', () => {
  // Expected types: llama.cpp's plan for a 2-layer llama (use_more_bits(i, 2) is true for layer 1 only).
  const CASES = [
    { target: 'Q8_0', ftype: 7, types: { 'blk.0.attn_q.weight': 'Q8_0', 'blk.1.ffn_down.weight': 'Q8_0', 'output.weight': 'Q8_0' } },
    { target: 'Q4_K_M', ftype: 15, types: { 'blk.0.attn_q.weight': 'Q4_K', 'blk.0.attn_v.weight': 'Q4_K', 'blk.1.attn_v.weight': 'Q6_K', 'blk.0.ffn_down.weight': 'Q4_K', 'blk.1.ffn_down.weight': 'Q6_K', 'output.weight': 'Q6_K', 'token_embd.weight': 'Q4_K' } },
    { target: 'Q5_0', ftype: 8, types: { 'blk.0.attn_q.weight': 'Q5_0', 'output.weight': 'Q6_K' } },
    // n_gqa 4 here. Q3_K_M: attn_v of the first 2 layers in Q5_K, ffn_down (layer ≥ n/16, not falcon) and attn_output in Q4_K.
    { target: 'Q3_K_M', ftype: 12, types: { 'blk.0.attn_q.weight': 'Q3_K', 'blk.1.ffn_up.weight': 'Q3_K', 'blk.1.attn_v.weight': 'Q5_K', 'blk.0.ffn_down.weight': 'Q4_K', 'blk.1.attn_output.weight': 'Q4_K', 'output.weight': 'Q6_K', 'token_embd.weight': 'Q3_K' } },
    // Q2_K: attn_v in Q4_K (n_gqa ≥ 4), ffn_down and attn_output in Q3_K.
    { target: 'Q2_K', ftype: 10, types: { 'blk.0.attn_q.weight': 'Q2_K', 'blk.0.attn_v.weight': 'Q4_K', 'blk.1.ffn_down.weight': 'Q3_K', 'blk.0.attn_output.weight': 'Q3_K', 'output.weight': 'Q6_K', 'token_embd.weight': 'Q2_K' } },
    // IQ4_XS: attn_v in Q5_K (n_gqa ≥ 4); ffn_down stays (layer < n/8 = 0 is none).
    { target: 'IQ4_XS', ftype: 30, types: { 'blk.0.attn_q.weight': 'IQ4_XS', 'blk.0.attn_v.weight': 'Q5_K', 'blk.0.ffn_down.weight': 'IQ4_XS', 'output.weight': 'Q6_K' } },
  ] as const;

  it.each(CASES)('$target: types and metadata as llama-quantize writes them; llama.cpp and Tessera agree on the logits', async ({ target, ftype, types }) => {
    const out = join(DIR, `${target}.gguf`);
    const r = await quantizeGguf(SRC, out, target);
    const f = await openGguf(out);
    expect(f.getU32('general.file_type')).toBe(ftype);
    expect(f.getU32('general.quantization_version')).toBe(2);
    for (const [name, type] of Object.entries(types)) expect(ggmlTypeName(f.tensorByName.get(name)!.type), name).toBe(type);
    expect(f.tensorByName.get('blk.0.attn_norm.weight')!.type).toBe(GgmlType.F32);
    expect(f.getStr('tokenizer.ggml.model')).toBe('llama');
    expect(r.bytesOut).toBeLessThan(r.bytesIn / 3);

    const [engine, oracle] = await Promise.all([
      createEngine({ model: out, threads: 2, logitRows: PROMPT.length, numCtx: 128 }),
      runLlamaCpp({ model: out, tokens: PROMPT, topK: 10, threads: 2 }),
    ]);
    try {
      const logits = await engine.evaluate(PROMPT);
      let maxDiff = 0;
      for (let i = 0; i < PROMPT.length; i++) {
        const ours = logSoftmax(logits[i]);
        for (const [id, lp] of oracle.top[i]) maxDiff = Math.max(maxDiff, Math.abs(ours[id] - lp));
      }
      expect(maxDiff).toBeLessThanOrEqual(4e-2);
    } finally {
      await engine.close();
    }
  });

  it('refuses an unknown type, an already-quantized source and writes nothing', async () => {
    const q8 = join(DIR, 'q8_0-src.gguf');
    await quantizeGguf(SRC, q8, 'Q8_0');
    await expect(quantizeGguf(SRC, join(DIR, 'x.gguf'), 'Q9_9')).rejects.toThrow(/unknown quantization type 'Q9_9'/);
    const out = join(DIR, 'requant.gguf');
    const err = await quantizeGguf(q8, out, 'Q4_0').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QuantizeError);
    expect((err as Error).message).toMatch(/tensor token_embd\.weight is Q8_0/);
    expect(existsSync(out)).toBe(false);
  });
});

describe('tessera quantize (CLI)', () => {
  const cli = (args: string[]) =>
    spawnSync(process.execPath.includes('bun') ? process.execPath : join('node_modules', '.bin', 'bun'), ['src/cli/main.ts', 'quantize', ...args], { encoding: 'utf8' });

  it('writes the file and reports the tensor types', () => {
    const out = join(DIR, 'cli-q8.gguf');
    const r = cli([SRC, out, 'q8_0']);
    expect(r.stderr).toMatch(/Q8_0/);
    expect(r.status).toBe(0);
    expect(existsSync(out)).toBe(true);
  });

  it('exit 2 on usage errors, 1 on a missing file, with a message', () => {
    const bad = cli([SRC, join(DIR, 'y.gguf'), 'Q9_9']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/unknown type 'Q9_9'/);
    const missing = cli([join(DIR, 'nope.gguf'), join(DIR, 'z.gguf'), 'Q8_0']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/nope\.gguf/);
  });
});
