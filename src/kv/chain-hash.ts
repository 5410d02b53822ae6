/**
 * Chained page keys for the prefix index: a full page's key is
 * `sha256(parent key ‖ salt ‖ page token ids ‖ image hashes in the page)` in hex, where the salt
 * names the model (digest), the K/V types and the page size. Two pages have the same key only
 * when everything before them and in them is the same, so a key identifies a whole prefix.
 * The partial last page of a sequence has no key of its own: it is found under its parent's, as are (in memory)
 * the full pages whose leading tokens alone match a prompt (manager.ts).
 */
import { createHash } from 'node:crypto';

/** Key of the (empty) prefix before page 0. */
export const ROOT_KEY = '0'.repeat(64);

/** What every key of one cache depends on besides the tokens. */
export function chainSalt(modelDigest: string, kType: string, vType: string, pageSize: number): string {
  return `tessera-kv-v1|${modelDigest}|k=${kType}|v=${vType}|ps=${pageSize}`;
}

/**
 * Key of the page holding `tokens[start, end)` after the prefix whose key is `parent`.
 * `images`: hashes of the images whose embeddings occupy positions in the page (with their
 * preprocessing settings), in order; empty for text.
 */
export function chainHash(parent: string, salt: string, tokens: ArrayLike<number>, start: number, end: number, images: readonly string[] = []): string {
  const h = createHash('sha256');
  h.update(parent);
  h.update(salt);
  const ids = new Int32Array(end - start);
  for (let i = start; i < end; i++) ids[i - start] = tokens[i];
  h.update(new Uint8Array(ids.buffer));
  for (const img of images) h.update(`|img:${img}`);
  return h.digest('hex');
}
