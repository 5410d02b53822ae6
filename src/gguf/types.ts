/** GGUF metadata value types (gguf.h `enum gguf_type`). */
export enum GgufValueType {
  UINT8 = 0, INT8 = 1, UINT16 = 2, INT16 = 3, UINT32 = 4, INT32 = 5, FLOAT32 = 6,
  BOOL = 7, STRING = 8, ARRAY = 9, UINT64 = 10, INT64 = 11, FLOAT64 = 12,
}

/** ggml tensor types (ggml.h `enum ggml_type`, llama.cpp as shipped by node-llama-cpp 3.21.1). Ids 4, 5, 31–33, 36–38 were removed from ggml. */
export enum GgmlType {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
  Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15,
  IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19, IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23,
  I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, IQ1_M = 29, BF16 = 30,
  TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39, NVFP4 = 40, Q1_0 = 41, Q2_0 = 42,
}

/** A scalar metadata value with its explicit GGUF type. 64-bit integers may be given as bigint. */
export interface GgufScalarValue {
  type: Exclude<GgufValueType, GgufValueType.ARRAY>;
  value: number | bigint | boolean | string;
}
/**
 * An array value. For a numeric/bool/string `itemType`, `value` holds plain items (a typed array is fine
 * for large numeric arrays). For `itemType: ARRAY` (nested arrays), each item is itself a `GgufArrayValue`.
 */
export interface GgufArrayValue {
  type: GgufValueType.ARRAY;
  itemType: GgufValueType;
  value: ArrayLike<unknown>;
}
/** A metadata value with its explicit GGUF type. */
export type GgufValue = GgufScalarValue | GgufArrayValue;

/** Helpers that tag a JS value with its GGUF type: `gv.u32(2048)`, `gv.arr(GgufValueType.STRING, tokens)`. */
export const gv = {
  u8: (v: number): GgufValue => ({ type: GgufValueType.UINT8, value: v }),
  i8: (v: number): GgufValue => ({ type: GgufValueType.INT8, value: v }),
  u16: (v: number): GgufValue => ({ type: GgufValueType.UINT16, value: v }),
  i16: (v: number): GgufValue => ({ type: GgufValueType.INT16, value: v }),
  u32: (v: number): GgufValue => ({ type: GgufValueType.UINT32, value: v }),
  i32: (v: number): GgufValue => ({ type: GgufValueType.INT32, value: v }),
  f32: (v: number): GgufValue => ({ type: GgufValueType.FLOAT32, value: v }),
  bool: (v: boolean): GgufValue => ({ type: GgufValueType.BOOL, value: v }),
  str: (v: string): GgufValue => ({ type: GgufValueType.STRING, value: v }),
  u64: (v: number | bigint): GgufValue => ({ type: GgufValueType.UINT64, value: v }),
  i64: (v: number | bigint): GgufValue => ({ type: GgufValueType.INT64, value: v }),
  f64: (v: number): GgufValue => ({ type: GgufValueType.FLOAT64, value: v }),
  arr: (itemType: GgufValueType, values: ArrayLike<unknown>): GgufArrayValue => ({ type: GgufValueType.ARRAY, itemType, value: values }),
};

/** Size in bytes of one scalar of each fixed-size value type (0 for STRING and ARRAY, which are variable). */
export const GGUF_SCALAR_SIZE: Readonly<Record<GgufValueType, number>> = {
  [GgufValueType.UINT8]: 1, [GgufValueType.INT8]: 1, [GgufValueType.UINT16]: 2, [GgufValueType.INT16]: 2,
  [GgufValueType.UINT32]: 4, [GgufValueType.INT32]: 4, [GgufValueType.FLOAT32]: 4, [GgufValueType.BOOL]: 1,
  [GgufValueType.STRING]: 0, [GgufValueType.ARRAY]: 0, [GgufValueType.UINT64]: 8, [GgufValueType.INT64]: 8,
  [GgufValueType.FLOAT64]: 8,
};

/** Name of a value type ("UINT32"), or `type#<id>` for an unknown id. */
export function ggufValueTypeName(t: number): string {
  return GgufValueType[t] ?? `type#${t}`;
}

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_DEFAULT_ALIGNMENT = 32;
