/** Test values for the storage suites: seeded random tensors of every dtype, and a size helper. */
import { mulberry32 } from '../helpers/mulberry32.ts';
import type { StorageDtype, StoredValue } from '../../src/storage/types.ts';

export const SIZES: Record<StorageDtype, number> = { F32: 4, F16: 2, BF16: 2, I32: 4, U32: 4, I8: 1, U8: 1 };

export function randomBytes(n: number, seed: number): Uint8Array {
  const r = mulberry32(seed);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

/** A value like a KV page: K and V tensors plus the metadata the KV cache writes. */
export function kvPage(seed: number, tokens = 4, width = 8): StoredValue {
  return {
    tensors: [
      { name: 'k', dtype: 'F16', shape: [tokens, width], bytes: randomBytes(tokens * width * 2, seed) },
      { name: 'v', dtype: 'F16', shape: [tokens, width], bytes: randomBytes(tokens * width * 2, seed + 1) },
    ],
    meta: { model_digest: `sha256-${seed.toString(16).padStart(8, '0')}`, chain_hash: `c${seed}`, token_start: '0', token_end: String(tokens), kv_type: 'f16' },
  };
}

/** One tensor of each dtype, odd shapes included, and non-ASCII metadata. */
export function everyDtype(seed: number): StoredValue {
  const dtypes: StorageDtype[] = ['F32', 'F16', 'BF16', 'I32', 'U32', 'I8', 'U8'];
  const shapes = [[3, 5], [7], [2, 1, 3], [4, 4], [1], [0], [3, 3, 3]];
  return {
    tensors: dtypes.map((dtype, i) => {
      const n = shapes[i].reduce((a, b) => a * b, 1);
      return { name: `t.${dtype.toLowerCase()}`, dtype, shape: shapes[i], bytes: randomBytes(n * SIZES[dtype], seed + i) };
    }),
    meta: { note: 'größe ≠ 大きさ', empty: '' },
  };
}
