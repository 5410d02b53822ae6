/** A parsed file's metadata back as writer values (to copy keys into a new GGUF: quantize, test fixtures). */
import { GgufError } from './errors.ts';
import type { GgufFile } from './reader.ts';
import { type GgufValue, GgufValueType } from './types.ts';

/** The metadata of `file` whose keys pass `keep` (default: all). Nested arrays are refused: no llama.cpp model has them. */
export function metadataValues(file: GgufFile, keep: (key: string) => boolean = () => true): Record<string, GgufValue> {
  const out: Record<string, GgufValue> = {};
  for (const [key, value] of file.metadata) {
    if (!keep(key)) continue;
    const type = file.metadataTypes.get(key)!;
    if (typeof type === 'object') {
      if (type.array === GgufValueType.ARRAY) throw new GgufError('gguf_unsupported', file.path, `metadata key ${key} is a nested array, which cannot be copied`);
      out[key] = { type: GgufValueType.ARRAY, itemType: type.array, value: value as ArrayLike<unknown> };
    } else {
      out[key] = { type, value } as GgufValue;
    }
  }
  return out;
}
