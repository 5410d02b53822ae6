/**
 * The native backend loads with each runtime's own FFI — koffi (Node, this process), bun:ffi (Bun),
 * Deno.dlopen (Deno) — and the same library gives the same greedy tokens on all three (the kernels'
 * results do not depend on the thread count or the caller, so equality is exact). Deno without
 * --allow-ffi: probeNative() reports it unavailable instead of throwing.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/index.ts';
import { probeNative } from '../../src/backend/native/index.ts';
import { nativeLibraryPresent } from '../../src/backend/native/core.ts';
import { writeSyntheticLlama } from '../../src/synth/index.ts';
import { llama2VocabMetadata } from '../fixtures/vocab.ts';

const ROOT = join(import.meta.dirname, '../..');
const DIR = join(tmpdir(), 'tessera-native-runtimes');
const MODEL = join(DIR, 'tiny-q4_0.gguf');
const BIN = join(ROOT, 'node_modules/.bin');
const SCRIPT = 'test/runtime/native-smoke.ts';

type Smoke = { ffi: string; probe: { available: boolean; simdLevel: string; error?: string }; backend?: string; tokens?: number[] };
function run(cmd: string, args: string[]): Smoke {
  const out = execFileSync(cmd, args, { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return JSON.parse(out.trim().split('\n').pop()!);
}

describe.skipIf(!nativeLibraryPresent())('native backend on Node, Bun and Deno', () => {
  let node: number[];
  beforeAll(async () => {
    mkdirSync(DIR, { recursive: true });
    await writeSyntheticLlama(MODEL, { nEmbd: 128, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 256, type: 'Q4_0', seed: 11, tokenizer: llama2VocabMetadata() });
    const engine = await createEngine({ model: MODEL, threads: 2, backend: 'native' });
    expect(engine.info.backend).toBe('native');
    node = [];
    for await (const c of engine.generate({ prompt: 'Hello world', raw: true, options: { temperature: 0, num_predict: 8 } })) node.push(c.token);
    await engine.close();
  }, 60_000);

  it('Node (koffi): probe passes, 8 tokens', async () => {
    const p = await probeNative();
    expect(p.available, p.error).toBe(true);
    expect(['scalar', 'avx2', 'avx512', 'neon']).toContain(p.simdLevel);
    expect(node).toHaveLength(8);
  });
  it('Bun (bun:ffi) gives the same tokens', () => {
    const r = run(join(BIN, 'bun'), [SCRIPT, MODEL]);
    expect(r.ffi).toBe('bun');
    expect(r.probe.available, r.probe.error).toBe(true);
    expect(r.backend).toBe('native');
    expect(r.tokens).toEqual(node);
  });
  it('Deno (Deno.dlopen) gives the same tokens', () => {
    const r = run(join(BIN, 'deno'), ['run', '-A', SCRIPT, MODEL]);
    expect(r.ffi).toBe('deno');
    expect(r.probe.available, r.probe.error).toBe(true);
    expect(r.tokens).toEqual(node);
  });
  it('Deno without --allow-ffi: probeNative() says unavailable, with the reason, and does not throw', () => {
    const r = run(join(BIN, 'deno'), ['run', '--allow-read', '--allow-env', SCRIPT, MODEL, 'probe-only']);
    expect(r.probe.available).toBe(false);
    expect(r.probe.error).toBeTruthy();
  });
});
