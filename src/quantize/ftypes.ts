/**
 * Quantization targets as llama.cpp's `llama-quantize` names them (`llama_ftype`): the file type id
 * written as `general.file_type`, and the type most 2-D weights get (the plan in plan.ts moves some
 * tensors up or down from it, as llama.cpp does).
 */
import { GgmlType } from '../gguf/types.ts';

export interface QuantTarget {
  /** llama-quantize's name, e.g. "Q4_K_M". */
  name: string;
  /** `llama_ftype` (general.file_type). */
  ftype: number;
  /** Type of the 2-D weights the plan does not single out. */
  base: GgmlType;
}

const T = (name: string, ftype: number, base: GgmlType): [string, QuantTarget] => [name, { name, ftype, base }];

/** Every target `tessera quantize` accepts, keyed by upper-case name. */
export const QUANT_TARGETS: ReadonlyMap<string, QuantTarget> = new Map([
  T('F32', 0, GgmlType.F32),
  T('F16', 1, GgmlType.F16),
  T('BF16', 32, GgmlType.BF16),
  T('Q4_0', 2, GgmlType.Q4_0),
  T('Q4_1', 3, GgmlType.Q4_1),
  T('Q8_0', 7, GgmlType.Q8_0),
  T('Q5_0', 8, GgmlType.Q5_0),
  T('Q5_1', 9, GgmlType.Q5_1),
  T('Q2_K', 10, GgmlType.Q2_K),
  T('Q3_K_S', 11, GgmlType.Q3_K),
  T('Q3_K_M', 12, GgmlType.Q3_K),
  T('Q3_K_L', 13, GgmlType.Q3_K),
  T('Q4_K_S', 14, GgmlType.Q4_K),
  T('Q4_K_M', 15, GgmlType.Q4_K),
  T('Q5_K_S', 16, GgmlType.Q5_K),
  T('Q5_K_M', 17, GgmlType.Q5_K),
  T('Q6_K', 18, GgmlType.Q6_K),
  T('IQ4_NL', 25, GgmlType.IQ4_NL),
  T('IQ4_XS', 30, GgmlType.IQ4_XS),
]);

/** Aliases llama-quantize also accepts. */
const ALIASES: Record<string, string> = { Q4_K: 'Q4_K_M', Q5_K: 'Q5_K_M', Q3_K: 'Q3_K_M' };

/** The target named `name` (case-insensitive), or undefined. */
export function quantTarget(name: string): QuantTarget | undefined {
  const up = name.toUpperCase();
  return QUANT_TARGETS.get(ALIASES[up] ?? up);
}
