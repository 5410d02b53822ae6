/**
 * Patch unfolding (im2col of a stride-p conv): tile CHW `[3][S][S]` → rows `[(S/p)²][3·p·p]`, patch
 * (py, px) at row py·(S/p) + px, column c·p·p + ky·p + kx = chw[c][py·p + ky][px·p + kx]; the column order
 * of ggml's conv kernel `[p, p, 3, n_embd]` read as a matrix.
 */
import { ValidationError } from '../../errors.ts';

/** Writes the unfolded patches of `chw` into `out` starting at row `row0` (rows of 3·p·p values). */
export function unfoldPatches(chw: Float32Array, size: number, p: number, out: Float32Array, row0: number): void {
  if (chw.length !== 3 * size * size) throw new ValidationError(`unfoldPatches: expected a [3][${size}][${size}] tensor (${3 * size * size} values), got ${chw.length}`);
  const side = size / p;
  const dim = 3 * p * p;
  for (let py = 0; py < side; py++) {
    for (let px = 0; px < side; px++) {
      let o = (row0 + py * side + px) * dim;
      for (let c = 0; c < 3; c++) {
        for (let ky = 0; ky < p; ky++) {
          const src = c * size * size + (py * p + ky) * size + px * p;
          out.set(chw.subarray(src, src + p), o);
          o += p;
        }
      }
    }
  }
}
