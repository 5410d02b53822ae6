/**
 * KV cache element types: what a page row of `n = n_head_kv·head_dim` values costs in bytes
 * (ABI.md KV_STORE). f16 is the default; q8_0 and q4_0 are ggml's blocks of 32 values
 * (34 and 18 bytes), read in place by ATTENTION.
 */
import { ValidationError } from '../errors.ts';
import { GgmlType } from '../gguf/types.ts';

export type KvTypeName = 'f32' | 'f16' | 'q8_0' | 'q4_0';

export const KV_TYPE_NAMES: readonly KvTypeName[] = ['f16', 'q8_0', 'q4_0', 'f32'];

const IDS: Record<KvTypeName, GgmlType> = { f32: GgmlType.F32, f16: GgmlType.F16, q8_0: GgmlType.Q8_0, q4_0: GgmlType.Q4_0 };

/** K's and V's types. */
export interface KvTypes {
  k: KvTypeName;
  v: KvTypeName;
}

export function kvTypeId(t: KvTypeName): GgmlType {
  return IDS[t];
}

export function kvTypeName(id: GgmlType): KvTypeName {
  for (const [name, v] of Object.entries(IDS)) if (v === id) return name as KvTypeName;
  throw new ValidationError(`KV cache type id ${id} is not one of ${KV_TYPE_NAMES.join(', ')}`);
}

/** Bytes of one cache row of `n` values (block types need n % 32 == 0). */
export function kvRowBytes(t: KvTypeName, n: number): number {
  switch (t) {
    case 'f32':
      return 4 * n;
    case 'f16':
      return 2 * n;
    case 'q8_0':
    case 'q4_0':
      if (n % 32 !== 0) throw new ValidationError(`KV cache type ${t} needs rows of a multiple of 32 values (n_head_kv·head_dim = ${n})`);
      return (n / 32) * (t === 'q8_0' ? 34 : 18);
  }
}

/** Validates a caller's type name (`kv_type` options). `what` names the field in the error. */
export function parseKvType(x: unknown, what: string): KvTypeName {
  if (typeof x === 'string' && (KV_TYPE_NAMES as readonly string[]).includes(x.toLowerCase())) return x.toLowerCase() as KvTypeName;
  throw new ValidationError(`${what} must be one of ${KV_TYPE_NAMES.join(', ')}, got ${JSON.stringify(x)}`);
}

/**
 * The request's K/V types: `kv_type_k`/`kv_type_v` win over `kv_type`, which wins over the
 * model's default.
 */
export function resolveKvTypes(opts: { kv_type?: unknown; kv_type_k?: unknown; kv_type_v?: unknown } | undefined, dflt: KvTypes): KvTypes {
  const both = opts?.kv_type != null ? parseKvType(opts.kv_type, 'kv_type') : null;
  const k = opts?.kv_type_k != null ? parseKvType(opts.kv_type_k, 'kv_type_k') : (both ?? dflt.k);
  const v = opts?.kv_type_v != null ? parseKvType(opts.kv_type_v, 'kv_type_v') : (both ?? dflt.v);
  return { k, v };
}
