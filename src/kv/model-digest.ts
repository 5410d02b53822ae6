/**
 * The model digest in every KV page key: a sha256 fingerprint of a GGUF file, cheap enough to take
 * at every load — the file size, its first MiB (header, metadata, tensor table) and 64 chunks of
 * 64 KiB spread evenly over the rest (weights). Files that differ in metadata, shapes, or weights
 * anywhere in those samples get different digests; two files identical in every sampled byte but
 * differing elsewhere would share one (not a full-content hash: hashing a 4 GB file at each
 * load costs seconds).
 */
import { createHash } from 'node:crypto';
import { open } from 'node:fs/promises';

const HEAD = 1 << 20;
const CHUNK = 64 << 10;
const SAMPLES = 64;

export async function modelDigest(path: string): Promise<string> {
  const f = await open(path, 'r');
  try {
    const size = (await f.stat()).size;
    const h = createHash('sha256');
    h.update(`gguf-fingerprint-v1|${size}|`);
    const buf = new Uint8Array(Math.max(HEAD, CHUNK));
    const read = async (pos: number, len: number) => {
      const n = Math.max(0, Math.min(len, size - pos));
      const { bytesRead } = await f.read(buf, 0, n, pos);
      h.update(buf.subarray(0, bytesRead));
    };
    await read(0, HEAD);
    if (size > HEAD) {
      for (let i = 0; i < SAMPLES; i++) await read(HEAD + Math.floor(((size - HEAD - CHUNK) * i) / Math.max(1, SAMPLES - 1)), CHUNK);
    }
    return h.digest('hex').slice(0, 32);
  } finally {
    await f.close();
  }
}
