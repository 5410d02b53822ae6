/**
 * Weight repacking at load for the WASM MATMUL (wasm/src/ops/repack.rs, ABI.md REPACK). A 2-D matrix whose
 * row count is a multiple of 4 is stored by groups of 4 rows, which the decode tiles (4 or 8 rows × 1 token)
 * stream as one run of memory instead of 4 rows apart:
 * - Q4_0 → Q4_0X4: 4 rows interleaved per block of 32, the scales as f32 (one scale load per 4 rows);
 * - the K-quants (Q2_K … Q6_K, IQ4_XS) → the same super-blocks, each group's interleaved (`type | X4`).
 * The tensor keeps its GgmlType for every other consumer; only the core's type word (`CoreTensor.coreType`)
 * changes, and MATMUL and GET_ROWS read the repacked layouts with the original's bits.
 *
 * No extra copy of the weights: the file's bytes are read straight into the tail of the allocation (Q4_0X4
 * is larger: 20 bytes per 32 values, not 18) and REPACK rewrites them in place, group by group, through a
 * small scratch (4 rows).
 */
import { TesseraError } from '../../errors.ts';
import { GgmlType } from '../../gguf/types.ts';
import { Op } from './abi.ts';

/** Flag of the 4-row layouts in the core's type word (not ggml types): base type `t & 0xff`. */
export const X4 = 0x100;
/** Core type id of Q4_0X4. */
export const Q4_0X4 = X4 | GgmlType.Q4_0;

/** Super-block bytes of the K-quants that are interleaved. */
const K_BLOCK: Partial<Record<GgmlType, number>> = {
  [GgmlType.Q2_K]: 84, [GgmlType.Q3_K]: 110, [GgmlType.Q4_K]: 144, [GgmlType.Q5_K]: 176, [GgmlType.Q6_K]: 210, [GgmlType.IQ4_XS]: 136,
};

/** A view of a repacked matrix that does not start and end on a group of 4 rows. */
export class RepackedRowsError extends TesseraError {
  constructor(row: number, rows: number) {
    super('repacked_rows', `rows ${row}..${row + rows} of a repacked (Q4_0X4) weight: views must start and end on a multiple of 4 rows`);
  }
}

/** How a weight of `type`/`dims` is stored repacked, or null (kept as loaded). */
export function repackPlan(type: GgmlType, dims: readonly number[]): { coreType: number; bytes: number; scratch: number } | null {
  if (dims.length !== 2) return null;
  const [nIn, nRows] = dims;
  if (nRows % 4 !== 0 || nRows === 0) return null;
  if (type === GgmlType.Q4_0 && nIn % 32 === 0) return { coreType: Q4_0X4, bytes: (nIn / 32) * 20 * nRows, scratch: (nIn / 32) * 80 };
  const kb = K_BLOCK[type];
  if (kb && nIn % 256 === 0) return { coreType: X4 | type, bytes: (nIn / 256) * kb * nRows, scratch: 4 * (nIn / 256) * kb };
  return null;
}

/** The REPACK command's words after the op code: `from, src, dst, n_in, n_rows, scratch` (ABI.md). */
export function repackArgs(type: GgmlType, dims: readonly number[], src: number, dst: number, scratch: number): [number, number, number, number, number, number] {
  return [type, src, dst, dims[0], dims[1], scratch];
}

export const REPACK_OP = Op.REPACK;
