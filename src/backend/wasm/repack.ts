/**
 * Weight repacking at load for the WASM MATMUL (wasm/src/ops/repack.rs, ABI.md REPACK): a 2-D Q4_0 matrix
 * whose row count is a multiple of 4 is stored as Q4_0X4 (4 rows interleaved per block of 32, the scales as
 * f32), which the simd128 decode tile streams with one scale load per 4 rows. The tensor keeps its GgmlType
 * (Q4_0) for every other consumer; only the core's type word (`CoreTensor.coreType`) changes, and MATMUL and
 * GET_ROWS both read Q4_0X4, giving Q4_0's bits.
 *
 * No extra copy of the weights: the file's bytes are read straight into the tail of the (larger) Q4_0X4
 * allocation and REPACK rewrites them in place, group by group, through a small scratch (`80·n_in/32` bytes).
 */
import { TesseraError } from '../../errors.ts';
import { GgmlType } from '../../gguf/types.ts';
import { Op } from './abi.ts';

/** Core type id of Q4_0X4 (not a ggml type). */
export const Q4_0X4 = 0x102;

/** A view of a repacked matrix that does not start and end on a group of 4 rows. */
export class RepackedRowsError extends TesseraError {
  constructor(row: number, rows: number) {
    super('repacked_rows', `rows ${row}..${row + rows} of a repacked (Q4_0X4) weight: views must start and end on a multiple of 4 rows`);
  }
}

/** How a weight of `type`/`dims` is stored repacked, or null (kept as loaded). */
export function repackPlan(type: GgmlType, dims: readonly number[]): { coreType: number; bytes: number; scratch: number } | null {
  if (type !== GgmlType.Q4_0 || dims.length !== 2) return null;
  const [nIn, nRows] = dims;
  if (nIn % 32 !== 0 || nRows % 4 !== 0 || nRows === 0) return null;
  return { coreType: Q4_0X4, bytes: (nIn / 32) * 20 * nRows, scratch: (nIn / 32) * 80 };
}

/** The REPACK command's words after the op code: `from, src, dst, n_in, n_rows, scratch` (ABI.md). */
export function repackArgs(dims: readonly number[], src: number, dst: number, scratch: number): [number, number, number, number, number, number] {
  return [GgmlType.Q4_0, src, dst, dims[0], dims[1], scratch];
}

export const REPACK_OP = Op.REPACK;
