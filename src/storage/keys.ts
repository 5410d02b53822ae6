import { StorageKeyError } from './errors.ts';

/**
 * The key grammar every driver shares: '/'-separated segments of `[A-Za-z0-9._-]`, e.g. `kv/<digest>/<chain>`.
 * A segment must not start with '.' (so '.', '..' and the filesystem driver's hidden temp files are never keys)
 * and must not end with '.safetensors' (the filesystem driver's file suffix, so a file `a.safetensors` and a
 * directory `a.safetensors/` can't collide). At most MAX_KEY_BYTES in all, MAX_SEGMENT_BYTES per segment.
 */
export const MAX_KEY_BYTES = 512;
export const MAX_SEGMENT_BYTES = 200;
const SEGMENT = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;
const PREFIX_CHARS = /^[A-Za-z0-9._/-]*$/;

export function validateKey(key: string): void {
  if (typeof key !== 'string') throw new StorageKeyError(String(key), 'not a string');
  if (key.length === 0) throw new StorageKeyError(key, 'empty');
  if (key.length > MAX_KEY_BYTES) throw new StorageKeyError(key, `longer than ${MAX_KEY_BYTES} characters`);
  for (const seg of key.split('/')) {
    if (seg.length === 0) throw new StorageKeyError(key, 'empty segment (leading, trailing or doubled "/")');
    if (seg.length > MAX_SEGMENT_BYTES) throw new StorageKeyError(key, `segment longer than ${MAX_SEGMENT_BYTES} characters`);
    if (!SEGMENT.test(seg)) throw new StorageKeyError(key, `segment ${JSON.stringify(seg)} must match [A-Za-z0-9_-][A-Za-z0-9._-]*`);
    if (seg.endsWith('.safetensors')) throw new StorageKeyError(key, 'a segment must not end with ".safetensors"');
  }
}

/** A list() prefix: any leading part of a key (may be empty, may end inside a segment). */
export function validatePrefix(prefix: string): void {
  if (typeof prefix !== 'string') throw new StorageKeyError(String(prefix), 'prefix is not a string');
  if (prefix.length > MAX_KEY_BYTES) throw new StorageKeyError(prefix, `prefix longer than ${MAX_KEY_BYTES} characters`);
  if (!PREFIX_CHARS.test(prefix)) throw new StorageKeyError(prefix, 'prefix may only hold [A-Za-z0-9._/-]');
}
