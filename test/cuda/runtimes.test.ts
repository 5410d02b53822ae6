/**
 * The CUDA library's bindings on Node (koffi), Bun (bun:ffi) and Deno (Deno.dlopen): the same results from the host
 * emulation on all three (exact equality: the same library and inputs), and the GPU library either working or
 * failing with the driver's message (a string read through each FFI's C-string path).
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '../..');
const BIN = join(ROOT, 'node_modules/.bin');
const SCRIPT = 'test/runtime/cuda-smoke.ts';
type Smoke = { ffi: string; emu: { available: boolean }; gpu: { available: boolean; error?: string }; norm: number[]; mm: number[] };
function run(cmd: string, args: string[]): Smoke {
  const out = execFileSync(cmd, args, { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return JSON.parse(out.trim().split('\n').pop()!);
}

describe('CUDA bindings on Node, Bun and Deno', () => {
  let node: Smoke;
  it('Node (koffi)', async () => {
    const logs: string[] = [];
    const orig = console.log;
    console.log = (s: string) => logs.push(s);
    try {
      await import('../runtime/cuda-smoke.ts');
    } finally {
      console.log = orig;
    }
    node = JSON.parse(logs.pop()!);
    expect(node.ffi).toBe('koffi');
    expect(node.emu.available).toBe(true);
    if (!node.gpu.available) expect(node.gpu.error).toMatch(/tsr_cuda_create|not found|cannot open/);
    // rmsNorm of sin(i): independent float64 check; matmul of Q8_0 rows (1/64)·1 and (1/64)·2 against x's q8 rounding
    const xs = Array.from({ length: 64 }, (_, i) => Math.sin(i));
    const inv = 1 / Math.sqrt(xs.reduce((s, v) => s + v * v, 0) / 64 + 1e-5);
    node.norm.forEach((v, i) => expect(Math.abs(v - xs[i] * inv)).toBeLessThan(1e-5));
    expect(Math.abs(node.mm[1] - 2 * node.mm[0])).toBeLessThan(1e-5);
  });
  it('Bun (bun:ffi) gives the same results', () => {
    const r = run(join(BIN, 'bun'), [SCRIPT]);
    expect(r.ffi).toBe('bun');
    expect({ ...r, ffi: 'koffi' }).toEqual(node);
  });
  it('Deno (Deno.dlopen) gives the same results', () => {
    const r = run(join(BIN, 'deno'), ['run', '-A', SCRIPT]);
    expect(r.ffi).toBe('deno');
    expect({ ...r, ffi: 'koffi' }).toEqual(node);
  });
});
