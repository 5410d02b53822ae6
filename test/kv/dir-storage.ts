/**
 * A test-only Storage over a directory, one safetensors file per key (the product drivers are
 * src/storage/*): 8-byte little-endian header length, JSON header
 * `{name: {dtype, shape, data_offsets}, "__metadata__": meta}`, then the tensors' bytes.
 * Enough for two processes to share KV pages in a test; no checksum, budget or atomic rename.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Storage, StoredValue } from '../../src/storage/types.ts';

export class DirStorage implements Storage {
  readonly name = 'test-dir';
  readonly budgetBytes = 0;
  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true });
  }
  private file(key: string): string {
    return join(this.dir, key.replaceAll('/', '__') + '.safetensors');
  }
  async get(key: string): Promise<StoredValue | null> {
    const f = this.file(key);
    if (!existsSync(f)) return null;
    const buf = readFileSync(f);
    const n = Number(buf.readBigUInt64LE(0));
    const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
    const meta = header.__metadata__ ?? {};
    const tensors = Object.entries(header)
      .filter(([k]) => k !== '__metadata__')
      .map(([name, t]) => {
        const { dtype, shape, data_offsets } = t as { dtype: StoredValue['tensors'][0]['dtype']; shape: number[]; data_offsets: [number, number] };
        return { name, dtype, shape, bytes: new Uint8Array(buf.subarray(8 + n + data_offsets[0], 8 + n + data_offsets[1])) };
      });
    return { meta, tensors };
  }
  async put(key: string, v: StoredValue): Promise<void> {
    const header: Record<string, unknown> = { __metadata__: v.meta };
    let off = 0;
    for (const t of v.tensors) {
      header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [off, off + t.bytes.byteLength] };
      off += t.bytes.byteLength;
    }
    const h = Buffer.from(JSON.stringify(header), 'utf8');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(h.length));
    writeFileSync(this.file(key), Buffer.concat([len, h, ...v.tensors.map((t) => Buffer.from(t.bytes.buffer, t.bytes.byteOffset, t.bytes.byteLength))]));
  }
  async has(key: string): Promise<boolean> {
    return existsSync(this.file(key));
  }
  async delete(key: string): Promise<boolean> {
    if (!existsSync(this.file(key))) return false;
    unlinkSync(this.file(key));
    return true;
  }
  async list(prefix: string): Promise<string[]> {
    return readdirSync(this.dir)
      .map((f) => f.replace(/\.safetensors$/, '').replaceAll('__', '/'))
      .filter((k) => k.startsWith(prefix));
  }
  async usedBytes(): Promise<number> {
    return readdirSync(this.dir).reduce((a, f) => a + statSync(join(this.dir, f)).size, 0);
  }
  async close(): Promise<void> {}
}
