/**
 * K-quant reference quantizers vs llama.cpp's own C, byte for byte: `quantize_row_q4_K_ref`, `q5_K_ref` and
 * `q6_K_ref` from ggml/src/ggml-quants.c of the llama.cpp source that node-llama-cpp 3.21.1 ships
 * (llama/gitRelease.bundle), compiled here with the system C compiler and a small driver (stdin: f32 values,
 * stdout: the blocks). Compiled with -ffp-contract=off: ggml's reference is plain C float arithmetic, which our
 * port reproduces step by step (a build that fuses multiply-adds may round differently in rare ties).
 * Skipped, saying so, when cc or the bundle is unavailable. The build is cached per source commit in the OS
 * temp dir (about 3 s the first time).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { quantize } from '../../src/gguf/quant.ts';
import { GgmlType } from '../../src/gguf/types.ts';
import { ggmlQuantsSource } from '../helpers/llama-src.ts';
import { mulberry32 } from '../helpers/mulberry32.ts';

const DRIVER = `#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
void quantize_row_q4_K_ref(const float *x, void *y, int64_t k);
void quantize_row_q5_K_ref(const float *x, void *y, int64_t k);
void quantize_row_q6_K_ref(const float *x, void *y, int64_t k);
int main(int argc, char **argv) {
  size_t cap = (size_t)1 << 26;
  float *x = malloc(cap);
  size_t n = fread(x, 4, cap / 4, stdin);
  int t = atoi(argv[1]);
  size_t bs = t == 12 ? 144 : t == 13 ? 176 : 210;
  void *y = malloc(n / 256 * bs + 1);
  if (t == 12) quantize_row_q4_K_ref(x, y, n);
  else if (t == 13) quantize_row_q5_K_ref(x, y, n);
  else quantize_row_q6_K_ref(x, y, n);
  fwrite(y, 1, n / 256 * bs, stdout);
  return 0;
}
/* ggml.c symbols ggml-quants.c references outside the reference quantizers. */
void ggml_abort(const char *f, int l, const char *fmt, ...) { abort(); }
size_t ggml_row_size(int t, long n) { abort(); }
const char *ggml_type_name(int t) { return "?"; }
size_t ggml_type_size(int t) { abort(); }
`;

/** Builds the reference binary; returns its path, or the reason it can't. */
function buildReference(): { bin?: string; skip?: string } {
  if (spawnSync('cc', ['--version']).status !== 0) return { skip: 'no C compiler (cc)' };
  const src = ggmlQuantsSource();
  if (!src.dir) return { skip: src.skip };
  const dir = src.dir;
  const bin = join(dir, 'kquant-ref');
  if (existsSync(bin)) return { bin };
  writeFileSync(join(dir, 'driver.c'), DRIVER);
  const cc = spawnSync('cc', [
    '-O2', '-std=gnu11', '-ffp-contract=off', '-w', `-I${dir}/ggml/include`, `-I${dir}/ggml/src`, `-I${dir}/ggml/src/ggml-cpu`,
    join(dir, 'driver.c'), join(dir, 'ggml/src/ggml-quants.c'), '-o', bin, '-lm',
  ], { encoding: 'utf8' });
  if (cc.status !== 0) return { skip: `compiling ggml-quants.c failed: ${cc.stderr.slice(-500)}` };
  return { bin };
}

/** Test rows: Gaussian with outliers, a zero super-block, llama.cpp's cosine data, scaled and one-signed blocks. */
function testData(): Float32Array {
  const n = 256 * 64;
  const x = new Float32Array(n);
  const r = mulberry32(99);
  for (let i = 0; i < n; i += 2) {
    const m = Math.sqrt(-2 * Math.log(1 - r()));
    const a = 2 * Math.PI * r();
    x[i] = m * Math.cos(a) * (i % 1000 < 3 ? 20 : 1);
    x[i + 1] = m * Math.sin(a);
  }
  x.fill(0, 512, 768); // all zero
  for (let i = 768; i < 1024; i++) x[i] = 0.1 + 2 * Math.cos(i); // test-quantize-fns data
  for (let i = 1024; i < 1280; i++) x[i] *= 1e-3; // small
  for (let i = 1280; i < 1536; i++) x[i] *= 300; // large
  for (let i = 1536; i < 1792; i++) x[i] = Math.abs(x[i]) + 0.5; // all positive (min clamps to 0)
  for (let i = 1792; i < 2048; i++) x[i] = -Math.abs(x[i]); // all ≤ 0
  x.fill(0.75, 2048, 2048 + 32); // one flat sub-block
  for (let i = 2304; i < 2560; i++) x[i] = Math.round(x[i] * 4) / 4; // many ties
  return x;
}

const ref = buildReference();

describe.skipIf(!ref.bin)(`K-quant quantizers vs llama.cpp's C reference${ref.skip ? ` (skipped: ${ref.skip})` : ''}`, () => {
  const x = testData();
  for (const [name, type] of [['Q4_K', GgmlType.Q4_K], ['Q5_K', GgmlType.Q5_K], ['Q6_K', GgmlType.Q6_K]] as const) {
    it(`${name}: identical bytes`, () => {
      const ours = quantize(type, x, 256);
      const r = spawnSync(ref.bin!, [String(type)], { input: new Uint8Array(x.buffer), maxBuffer: 1 << 26 });
      expect(r.status).toBe(0);
      const theirs = new Uint8Array(r.stdout);
      expect(theirs.length).toBe(ours.length);
      let first = -1;
      for (let i = 0; i < ours.length && first < 0; i++) if (ours[i] !== theirs[i]) first = i;
      expect(first, `first differing byte ${first} (block ${Math.floor(first / (ours.length / 64))})`).toBe(-1);
    });
  }
});
