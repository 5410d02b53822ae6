/**
 * The engine on the WebGPU backend under Deno (navigator.gpu: wgpu over Mesa lavapipe, with shader-f16, so the f16
 * shader variant) and Bun (npm webgpu: Dawn in OpenGL mode over llvmpipe, f16-less variant), each a child process
 * running test/runtime/webgpu-smoke.ts, against the WASM backend here on the same tiny F32 model (F16 KV cache):
 * the last prompt position's log-probs agree within 2e-3 over the WASM top 10 (the e2e bound for F32 weights), and
 * the 8 greedy tokens are the same.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/index.ts';
import { writeSyntheticLlama } from '../../src/synth/index.ts';
import { llama2VocabMetadata } from '../fixtures/vocab.ts';

const ROOT = join(import.meta.dirname, '../..');
const BIN = join(ROOT, 'node_modules/.bin');
const DIR = join(tmpdir(), 'tessera-webgpu-runtimes');
const MODEL = join(DIR, 'tiny-f32.gguf');
const SCRIPT = 'test/runtime/webgpu-smoke.ts';
const PROMPT = [1, 450, 4996, 17354, 1701, 432, 17204, 975, 278, 17366, 11203]; // as in the smoke script

interface Smoke { tokens: number[]; logprobs: number[]; probe: { features: { shaderF16: boolean } } | null; usesF16: boolean | null }

function run(cmd: string, args: string[]): Smoke {
  // EGL_PLATFORM before start: Bun's process.env assignments do not reach Dawn's getenv
  const out = execFileSync(cmd, args, { cwd: ROOT, encoding: 'utf8', timeout: 300_000, env: { ...process.env, EGL_PLATFORM: 'surfaceless' }, stdio: ['ignore', 'pipe', 'ignore'] });
  return JSON.parse(out.trim().split('\n').pop()!);
}

describe('WebGPU backend on Deno and Bun vs the WASM backend', () => {
  let ref: { tokens: number[]; logprobs: number[] };
  beforeAll(async () => {
    mkdirSync(DIR, { recursive: true });
    await writeSyntheticLlama(MODEL, { nEmbd: 64, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 128, type: 'F32', seed: 3, tokenizer: llama2VocabMetadata() });
    const e = await createEngine({ model: MODEL, threads: 1, numCtx: 64, logitRows: 16 });
    const last = (await e.evaluate(PROMPT)).at(-1)!;
    const m = Math.max(...last);
    const s = last.reduce((a, v) => a + Math.exp(v - m), 0);
    const tokens: number[] = [];
    for await (const c of e.generate({ prompt: PROMPT, options: { temperature: 0, num_predict: 8 } })) if (c.token >= 0) tokens.push(c.token);
    await e.close();
    ref = { tokens, logprobs: Array.from(last, (v) => v - m - Math.log(s)) };
  }, 120_000);

  function check(got: Smoke): void {
    const top = ref.logprobs.map((v, i) => [v, i]).sort((a, b) => b[0] - a[0]).slice(0, 10);
    const diff = Math.max(...top.map(([v, i]) => Math.abs(got.logprobs[i] - v)));
    expect(diff).toBeLessThanOrEqual(2e-3);
    expect(got.tokens).toEqual(ref.tokens);
  }

  it('every WGSL variant (with and without shader-f16) compiles under Deno (wgpu/naga)', () => {
    const out = execFileSync(join(BIN, 'deno'), ['run', '-A', 'test/runtime/webgpu-shaders.ts'], { cwd: ROOT, encoding: 'utf8', timeout: 300_000, stdio: ['ignore', 'pipe', 'ignore'] });
    const r = JSON.parse(out.trim().split('\n').pop()!);
    expect(r.shaders).toBeGreaterThan(50);
    expect(r.invalid).toBe(0);
  }, 300_000);

  it('Deno (navigator.gpu)', () => {
    const got = run(join(BIN, 'deno'), ['run', '-A', SCRIPT, MODEL]);
    expect(got.usesF16).toBe(got.probe!.features.shaderF16);
    check(got);
  }, 300_000);

  it('Bun (Dawn, OpenGL)', () => {
    const got = run(join(BIN, 'bun'), [SCRIPT, MODEL]);
    expect(got.usesF16).toBe(false);
    check(got);
  }, 300_000);
});
