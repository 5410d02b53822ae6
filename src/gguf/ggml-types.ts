import { GgmlType } from './types.ts';

/** Block layout of one ggml type: `blockSize` elements are stored in `typeSize` bytes (ggml.c `type_traits`). */
export interface GgmlTypeTraits {
  name: string;
  blockSize: number;
  typeSize: number;
}

/** Every ggml type that can appear in a GGUF file, checked against ggml.c `type_traits` and ggml-common.h block structs. */
export const GGML_TYPE_TRAITS: ReadonlyMap<GgmlType, GgmlTypeTraits> = new Map<GgmlType, GgmlTypeTraits>([
  [GgmlType.F32, { name: 'F32', blockSize: 1, typeSize: 4 }],
  [GgmlType.F16, { name: 'F16', blockSize: 1, typeSize: 2 }],
  [GgmlType.Q4_0, { name: 'Q4_0', blockSize: 32, typeSize: 18 }],
  [GgmlType.Q4_1, { name: 'Q4_1', blockSize: 32, typeSize: 20 }],
  [GgmlType.Q5_0, { name: 'Q5_0', blockSize: 32, typeSize: 22 }],
  [GgmlType.Q5_1, { name: 'Q5_1', blockSize: 32, typeSize: 24 }],
  [GgmlType.Q8_0, { name: 'Q8_0', blockSize: 32, typeSize: 34 }],
  [GgmlType.Q8_1, { name: 'Q8_1', blockSize: 32, typeSize: 36 }],
  [GgmlType.Q2_K, { name: 'Q2_K', blockSize: 256, typeSize: 84 }],
  [GgmlType.Q3_K, { name: 'Q3_K', blockSize: 256, typeSize: 110 }],
  [GgmlType.Q4_K, { name: 'Q4_K', blockSize: 256, typeSize: 144 }],
  [GgmlType.Q5_K, { name: 'Q5_K', blockSize: 256, typeSize: 176 }],
  [GgmlType.Q6_K, { name: 'Q6_K', blockSize: 256, typeSize: 210 }],
  [GgmlType.Q8_K, { name: 'Q8_K', blockSize: 256, typeSize: 292 }],
  [GgmlType.IQ2_XXS, { name: 'IQ2_XXS', blockSize: 256, typeSize: 66 }],
  [GgmlType.IQ2_XS, { name: 'IQ2_XS', blockSize: 256, typeSize: 74 }],
  [GgmlType.IQ3_XXS, { name: 'IQ3_XXS', blockSize: 256, typeSize: 98 }],
  [GgmlType.IQ1_S, { name: 'IQ1_S', blockSize: 256, typeSize: 50 }],
  [GgmlType.IQ4_NL, { name: 'IQ4_NL', blockSize: 32, typeSize: 18 }],
  [GgmlType.IQ3_S, { name: 'IQ3_S', blockSize: 256, typeSize: 110 }],
  [GgmlType.IQ2_S, { name: 'IQ2_S', blockSize: 256, typeSize: 82 }],
  [GgmlType.IQ4_XS, { name: 'IQ4_XS', blockSize: 256, typeSize: 136 }],
  [GgmlType.I8, { name: 'I8', blockSize: 1, typeSize: 1 }],
  [GgmlType.I16, { name: 'I16', blockSize: 1, typeSize: 2 }],
  [GgmlType.I32, { name: 'I32', blockSize: 1, typeSize: 4 }],
  [GgmlType.I64, { name: 'I64', blockSize: 1, typeSize: 8 }],
  [GgmlType.F64, { name: 'F64', blockSize: 1, typeSize: 8 }],
  [GgmlType.IQ1_M, { name: 'IQ1_M', blockSize: 256, typeSize: 56 }],
  [GgmlType.BF16, { name: 'BF16', blockSize: 1, typeSize: 2 }],
  [GgmlType.TQ1_0, { name: 'TQ1_0', blockSize: 256, typeSize: 54 }],
  [GgmlType.TQ2_0, { name: 'TQ2_0', blockSize: 256, typeSize: 66 }],
  [GgmlType.MXFP4, { name: 'MXFP4', blockSize: 32, typeSize: 17 }],
  [GgmlType.NVFP4, { name: 'NVFP4', blockSize: 64, typeSize: 36 }],
  [GgmlType.Q1_0, { name: 'Q1_0', blockSize: 128, typeSize: 18 }],
  [GgmlType.Q2_0, { name: 'Q2_0', blockSize: 64, typeSize: 18 }],
]);

/** Ids ggml removed; files carrying them are refused by llama.cpp too. */
const REMOVED_TYPES: ReadonlyMap<number, string> = new Map([
  [4, 'Q4_2'], [5, 'Q4_3'], [31, 'Q4_0_4_4'], [32, 'Q4_0_4_8'], [33, 'Q4_0_8_8'],
  [36, 'IQ4_NL_4_4'], [37, 'IQ4_NL_4_8'], [38, 'IQ4_NL_8_8'],
]);

/** Traits of a ggml type id, or undefined for an unknown or removed id. */
export function ggmlTypeTraits(id: number): GgmlTypeTraits | undefined {
  return GGML_TYPE_TRAITS.get(id as GgmlType);
}

/** Display name of a ggml type id: "Q4_0", "Q4_0_4_4 (removed)", or "unknown#99". */
export function ggmlTypeName(id: number): string {
  const t = GGML_TYPE_TRAITS.get(id as GgmlType);
  if (t) return t.name;
  const removed = REMOVED_TYPES.get(id);
  return removed ? `${removed} (removed)` : `unknown#${id}`;
}

/** Bytes of a row/tensor of `nElements` of `type`; throws RangeError if not a whole number of blocks. */
export function ggmlByteSize(type: GgmlType, nElements: number): number {
  const t = GGML_TYPE_TRAITS.get(type);
  if (!t) throw new RangeError(`unknown ggml type ${ggmlTypeName(type)}`);
  if (nElements % t.blockSize !== 0) throw new RangeError(`${nElements} elements is not a multiple of the ${t.name} block size ${t.blockSize}`);
  return (nElements / t.blockSize) * t.typeSize;
}
