/**
 * The fast big-model writer's random blocks: dequantized by the reference dequantizer (src/gguf/quant.ts, checked
 * against ggml elsewhere), they have the requested spread and no bias; the file has llama.cpp's Q4_K_M type mix.
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openGguf, readTensor } from '../../src/gguf/reader.ts';
import { dequantize } from '../../src/gguf/quant.ts';
import { GgmlType } from '../../src/gguf/types.ts';
import { useMoreBits } from '../../src/quantize/plan.ts';
import { fillRandomBlocks, writeRandomQ4KMLlama } from '../../src/synth/random-blocks.ts';
import { tinyLlamaVocab, Xoshiro128 } from '../../src/synth/index.ts';

function stats(x: Float32Array): { mean: number; std: number } {
  let s = 0;
  let s2 = 0;
  for (const v of x) {
    s += v;
    s2 += v * v;
  }
  const mean = s / x.length;
  return { mean, std: Math.sqrt(s2 / x.length - mean * mean) };
}

describe('fillRandomBlocks', () => {
  it.each([
    ['Q4_K', GgmlType.Q4_K, 144],
    ['Q6_K', GgmlType.Q6_K, 210],
  ])('%s: std within 2 percent of the target, mean within 2 percent of it, values finite', (_, type, blockBytes) => {
    const nBlocks = 2000;
    for (const std of [0.0083, 0.02, 1]) {
      const bytes = new Uint8Array(nBlocks * blockBytes);
      fillRandomBlocks(type, bytes, std, new Xoshiro128(7));
      const x = dequantize(type, bytes, nBlocks * 256);
      const s = stats(x);
      expect(x.every(Number.isFinite)).toBe(true);
      // f16 rounding of d moves the std by < 0.1%
      expect(Math.abs(s.std / std - 1)).toBeLessThan(0.02);
      expect(Math.abs(s.mean)).toBeLessThan(0.02 * std);
    }
  });
});

describe('writeRandomQ4KMLlama', () => {
  it("gives llama.cpp's Q4_K_M types: Q6_K output, attn_v and ffn_down by use_more_bits, Q4_K elsewhere", async () => {
    const dir = join(tmpdir(), 'tessera-random-blocks');
    mkdirSync(dir, { recursive: true });
    const path = join(dir, 'q4km.gguf');
    const nLayer = 8;
    await writeRandomQ4KMLlama(path, { nEmbd: 256, nLayer, nHead: 4, nHeadKv: 2, nFf: 512, type: 'Q4_K', seed: 1, tokenizer: tinyLlamaVocab() });
    const f = await openGguf(path);
    const type = (n: string) => f.tensorByName.get(n)!.type;
    expect(type('output.weight')).toBe(GgmlType.Q6_K);
    expect(type('token_embd.weight')).toBe(GgmlType.Q4_K);
    for (let il = 0; il < nLayer; il++) {
      const more = useMoreBits(il, nLayer) ? GgmlType.Q6_K : GgmlType.Q4_K;
      expect(type(`blk.${il}.attn_v.weight`)).toBe(more);
      expect(type(`blk.${il}.ffn_down.weight`)).toBe(more);
      expect(type(`blk.${il}.attn_q.weight`)).toBe(GgmlType.Q4_K);
      expect(type(`blk.${il}.attn_norm.weight`)).toBe(GgmlType.F32);
    }
    expect(f.metadata.get('general.file_type')).toBe(15);
    const q = f.tensorByName.get('blk.0.attn_q.weight')!;
    const s = stats(dequantize(q.type, await readTensor(f, q), 256 * 256));
    expect(Math.abs(s.std / (1.2 / 16) - 1)).toBeLessThan(0.05); // qkScale 1.2 / √n_embd
  });
});
