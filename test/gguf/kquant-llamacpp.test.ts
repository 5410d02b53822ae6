/**
 * K-quant reference quantizers vs llama.cpp's own C, byte for byte: `quantize_row_q{2,3,4,5,6}_K_ref` and
 * `quantize_iq4_xs` without importance matrix (what llama-quantize runs for IQ4_XS without an imatrix) from ggml/src/ggml-quants.c of the llama.cpp source that node-llama-cpp 3.21.1 ships
 * (llama/gitRelease.bundle), compiled here with the system C compiler and a small driver (stdin: f32 values,
 * stdout: the blocks). Compiled with -ffp-contract=off: ggml's reference is plain C float arithmetic, which our
 * port reproduces step by step (a build that fuses multiply-adds may round differently in rare ties).
 * Skipped, saying so, when cc or the bundle is unavailable. The build is cached per source commit in the OS
 * temp dir (about 3 s the first time).
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
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
void quantize_row_q2_K_ref(const float *x, void *y, int64_t k);
void quantize_row_q3_K_ref(const float *x, void *y, int64_t k);
void quantize_row_q4_K_ref(const float *x, void *y, int64_t k);
void quantize_row_q5_K_ref(const float *x, void *y, int64_t k);
void quantize_row_q6_K_ref(const float *x, void *y, int64_t k);
size_t quantize_iq4_xs(const float *src, void *dst, int64_t nrow, int64_t n_per_row, const float *qw);
int main(int argc, char **argv) {
  size_t cap = (size_t)1 << 26;
  float *x = malloc(cap);
  size_t n = fread(x, 4, cap / 4, stdin);
  int t = atoi(argv[1]); /* ggml type id */
  size_t bs = t == 10 ? 84 : t == 11 ? 110 : t == 12 ? 144 : t == 13 ? 176 : t == 14 ? 210 : t == 23 ? 136 : 0;
  if (!bs) return 2;
  void *y = malloc(n / 256 * bs + 1);
  if (t == 10) quantize_row_q2_K_ref(x, y, n);
  else if (t == 11) quantize_row_q3_K_ref(x, y, n);
  else if (t == 12) quantize_row_q4_K_ref(x, y, n);
  else if (t == 13) quantize_row_q5_K_ref(x, y, n);
  else if (t == 14) quantize_row_q6_K_ref(x, y, n);
  else quantize_iq4_xs(x, y, n / 256, 256, NULL); /* what llama-quantize runs without an imatrix */
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
  // One binary per driver text (a changed driver is rebuilt, not taken from an older cache).
  const bin = join(dir, `kquant-ref-${createHash('sha256').update(DRIVER).digest('hex').slice(0, 12)}`);
  if (existsSync(bin)) return { bin };
  writeFileSync(`${bin}.c`, DRIVER);
  const cc = spawnSync('cc', [
    '-O2', '-std=gnu11', '-ffp-contract=off', '-w', `-I${dir}/ggml/include`, `-I${dir}/ggml/src`, `-I${dir}/ggml/src/ggml-cpu`,
    `${bin}.c`, join(dir, 'ggml/src/ggml-quants.c'), '-o', bin, '-lm',
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
  const types = [['Q4_K', GgmlType.Q4_K], ['Q5_K', GgmlType.Q5_K], ['Q6_K', GgmlType.Q6_K], ['Q3_K', GgmlType.Q3_K], ['Q2_K', GgmlType.Q2_K], ['IQ4_XS', GgmlType.IQ4_XS]] as const;
  for (const [name, type] of types) {
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
