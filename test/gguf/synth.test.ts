/**
 * Synthetic llama files: llama.cpp names/shapes/metadata, determinism, weight statistics, and llama.cpp itself
 * (node-llama-cpp 3.21.1, child process, UV_THREADPOOL_SIZE=1) loading them and producing "alive" logits.
 */
import { spawn } from 'node:child_process';
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { dequantize } from '../../src/gguf/quant.ts';
import { openGguf, readTensor } from '../../src/gguf/reader.ts';
import { GgmlType } from '../../src/gguf/types.ts';
import { type SynthLlamaSpec, tinyLlamaVocab, writeSyntheticLlama } from '../../src/synth/index.ts';

const dir = mkdtempSync(join(tmpdir(), 'tessera-synth-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SHAPE = { nEmbd: 128, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 384 };
/** A 4096-token vocabulary: the tiny llama vocab plus filler pieces, so logit statistics resemble a real vocab. */
const vocab4k = () => tinyLlamaVocab(Array.from({ length: 4096 - 259 }, (_, i) => `▁p${i.toString(36)}`));

const SCRIPT = fileURLToPath(new URL('./llamacpp-load.mjs', import.meta.url));
interface LlamaCppReport {
  trainContextSize: number; embeddingVectorSize: number; vocabularyType: string; size: number; typeDescription: string;
  bos: number; eos: number; nVocab: number; logprobs: number[][];
}
function loadWithLlamaCpp(model: string, tokens: number[]): Promise<LlamaCppReport> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCRIPT], { env: { ...process.env, UV_THREADPOOL_SIZE: '1' } });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`llama.cpp exited ${code}: ${err.slice(-2000)}`))));
    child.stdin.end(JSON.stringify({ model, tokens }));
  });
}

function std(a: ArrayLike<number>): { mean: number; std: number } {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i];
  const mean = s / a.length;
  let v = 0;
  for (let i = 0; i < a.length; i++) v += (a[i] - mean) ** 2;
  return { mean, std: Math.sqrt(v / a.length) };
}

describe('synthetic llama', () => {
  it('has llama.cpp tensor names, shapes, types and metadata', async () => {
    const path = join(dir, 'shape.gguf');
    await writeSyntheticLlama(path, { ...SHAPE, type: 'Q4_0', seed: 1, tokenizer: tinyLlamaVocab(), name: 'shape test' });
    const f = await openGguf(path);
    const E = 128, V = 269, F = 384, KV = 2 * 32;
    const want: [string, number[], GgmlType][] = [['token_embd.weight', [E, V], GgmlType.Q4_0]];
    for (const b of ['blk.0.', 'blk.1.']) {
      want.push(
        [`${b}attn_norm.weight`, [E], GgmlType.F32], [`${b}attn_q.weight`, [E, E], GgmlType.Q4_0], [`${b}attn_k.weight`, [E, KV], GgmlType.Q4_0],
        [`${b}attn_v.weight`, [E, KV], GgmlType.Q4_0], [`${b}attn_output.weight`, [E, E], GgmlType.Q4_0], [`${b}ffn_norm.weight`, [E], GgmlType.F32],
        [`${b}ffn_gate.weight`, [E, F], GgmlType.Q4_0], [`${b}ffn_up.weight`, [E, F], GgmlType.Q4_0], [`${b}ffn_down.weight`, [F, E], GgmlType.Q4_0],
      );
    }
    want.push(['output_norm.weight', [E], GgmlType.F32], ['output.weight', [E, V], GgmlType.Q4_0]);
    expect(f.tensors.map((t) => [t.name, t.dims, t.type])).toEqual(want);
    expect(f.getStr('general.architecture')).toBe('llama');
    expect(f.getStr('general.name')).toBe('shape test');
    expect(f.getU32('general.file_type')).toBe(2);
    expect(f.getU32('llama.context_length')).toBe(2048);
    expect(f.getU32('llama.embedding_length')).toBe(E);
    expect(f.getU32('llama.block_count')).toBe(2);
    expect(f.getU32('llama.feed_forward_length')).toBe(F);
    expect(f.getU32('llama.attention.head_count')).toBe(4);
    expect(f.getU32('llama.attention.head_count_kv')).toBe(2);
    expect(f.getU32('llama.rope.dimension_count')).toBe(32);
    expect(f.getF32('llama.rope.freq_base')).toBe(10000);
    expect(f.getF32('llama.attention.layer_norm_rms_epsilon')).toBe(Math.fround(1e-5));
    expect(f.getArr('tokenizer.ggml.tokens').length).toBe(V);

    const tied = join(dir, 'tied.gguf');
    await writeSyntheticLlama(tied, { ...SHAPE, nLayer: 1, type: 'F16', seed: 1, tokenizer: tinyLlamaVocab(), tieEmbeddings: true, nCtx: 512, ropeBase: 5e5 });
    const t = await openGguf(tied);
    expect(t.tensorByName.has('output.weight')).toBe(false);
    expect(t.tensorByName.get('token_embd.weight')!.type).toBe(GgmlType.F16);
    expect(t.getU32('general.file_type')).toBe(1);
    expect(t.getU32('llama.context_length')).toBe(512);
    expect(t.getF32('llama.rope.freq_base')).toBe(500000);
  });

  it('is deterministic; each tensor depends only on (seed, name)', async () => {
    const spec: SynthLlamaSpec = { ...SHAPE, type: 'Q8_0', seed: 7, tokenizer: tinyLlamaVocab() };
    await writeSyntheticLlama(join(dir, 'a.gguf'), spec);
    await writeSyntheticLlama(join(dir, 'b.gguf'), spec);
    await writeSyntheticLlama(join(dir, 'c.gguf'), { ...spec, seed: 8 });
    await writeSyntheticLlama(join(dir, 'd.gguf'), { ...spec, nLayer: 1 });
    const a = readFileSync(join(dir, 'a.gguf'));
    expect(readFileSync(join(dir, 'b.gguf')).equals(a)).toBe(true);
    expect(readFileSync(join(dir, 'c.gguf')).equals(a)).toBe(false);
    const fa = await openGguf(join(dir, 'a.gguf'));
    const fd = await openGguf(join(dir, 'd.gguf'));
    for (const name of ['token_embd.weight', 'blk.0.attn_q.weight', 'blk.0.ffn_down.weight', 'output.weight']) {
      expect(await readTensor(fd, fd.tensorByName.get(name)!)).toEqual(await readTensor(fa, fa.tensorByName.get(name)!));
    }
  });

  it('weights follow the documented distributions', async () => {
    const path = join(dir, 'stats.gguf');
    await writeSyntheticLlama(path, { ...SHAPE, type: 'F32', seed: 3, tokenizer: vocab4k() });
    const f = await openGguf(path);
    const stat = async (name: string) => {
      const t = f.tensorByName.get(name)!;
      return std(dequantize(t.type, await readTensor(f, t), t.nElements));
    };
    const logitStd = 0.7 * Math.sqrt(2 * Math.log(4096));
    const cases: [string, number, number][] = [
      ['token_embd.weight', 0, 1], ['blk.1.attn_q.weight', 0, 1.2 / Math.sqrt(128)], ['blk.1.attn_v.weight', 0, 1 / Math.sqrt(128)],
      ['blk.0.ffn_down.weight', 0, 1 / Math.sqrt(384)], ['blk.0.attn_norm.weight', 1, 0.1], ['output.weight', 0, logitStd / Math.sqrt(128)],
    ];
    for (const [name, mean, sd] of cases) {
      const s = await stat(name);
      expect(Math.abs(s.mean - mean), name).toBeLessThan(0.05 * sd + (name.includes('norm') ? 0.03 : 0));
      expect(s.std / sd, name).toBeGreaterThan(name.includes('norm') ? 0.8 : 0.97);
      expect(s.std / sd, name).toBeLessThan(name.includes('norm') ? 1.2 : 1.03);
    }
  });

  for (const type of ['F32', 'Q4_0'] as const) {
    it(`llama.cpp loads the ${type} model, reads its metadata, and its logits are alive`, async () => {
      const path = join(dir, `live-${type}.gguf`);
      await writeSyntheticLlama(path, { ...SHAPE, type, seed: 42, tokenizer: vocab4k() });
      const ours = await openGguf(path);
      const tokens = [1];
      for (let s = 5; tokens.length < 24; ) {
        s = (Math.imul(s, 1103515245) + 12345) >>> 0;
        tokens.push(259 + (s % 3800));
      }
      const r = await loadWithLlamaCpp(path, tokens);
      expect(r.trainContextSize).toBe(2048);
      expect(r.embeddingVectorSize).toBe(128);
      expect(r.vocabularyType).toBe('spm');
      expect(r.bos).toBe(1);
      expect(r.eos).toBe(2);
      expect(r.nVocab).toBe(4096);
      expect(r.typeDescription).toContain(type === 'F32' ? 'all F32' : 'Q4_0');
      expect(r.size).toBe(ours.tensors.reduce((n, t) => n + t.byteSize, 0));
      // "alive": the next-token distribution is neither flat nor one-hot, and it changes with the input
      const top1: number[] = [];
      const spreads: number[] = [];
      const argmax = new Set<number>();
      for (const row of r.logprobs) {
        expect(row.length).toBe(4096);
        let best = 0;
        for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
        argmax.add(best);
        top1.push(Math.exp(row[best]));
        spreads.push(std(row).std);
      }
      top1.sort((a, b) => a - b);
      const median = top1[top1.length >> 1];
      console.log(`${type}: logit std ${std(spreads).mean.toFixed(2)}, top-1 p median ${median.toFixed(3)} [${top1[0].toFixed(3)}, ${top1[top1.length - 1].toFixed(3)}], ${argmax.size} distinct argmax over ${tokens.length} positions`);
      expect(std(spreads).mean).toBeGreaterThan(2);
      expect(std(spreads).mean).toBeLessThan(4);
      expect(median).toBeGreaterThan(0.05);
      expect(median).toBeLessThan(0.5);
      expect(argmax.size).toBeGreaterThan(tokens.length / 2);
    }, 60_000);
  }
});
