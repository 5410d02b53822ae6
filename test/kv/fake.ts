/**
 * Test doubles for the KV manager: a backend that only has memory (pages, i32 tables, page
 * views), a Map-backed Storage, and a "forward" that writes into the bound pages a value that
 * depends only on the tokens up to each position (so a page's bytes are right exactly when they
 * came from the same prefix), and a checker of those bytes.
 */
import type { Backend, Tensor } from '../../src/backend/backend.ts';
import type { KvCache } from '../../src/kv/cache.ts';
import type { KvManager, KvSequence } from '../../src/kv/manager.ts';
import type { Storage, StoredValue } from '../../src/storage/types.ts';

interface FakeTensor extends Tensor {
  ptr: number;
}

export class FakeBackend {
  readonly name = 'fake';
  readonly nThreads = 1;
  readonly mem = new Uint8Array(64 << 20);
  private top = 64;
  private alloc(bytes: number): number {
    const p = this.top;
    this.top += Math.ceil(bytes / 64) * 64;
    if (this.top > this.mem.length) throw new Error('fake backend out of memory');
    return p;
  }
  allocPages(n: number, bytes: number): number[] {
    return Array.from({ length: n }, () => this.alloc(bytes));
  }
  pageView(page: number, bytes: number): Uint8Array {
    return this.mem.subarray(page, page + bytes);
  }
  buffer(type: number, dims: number[]): Tensor {
    const n = dims.reduce((a, b) => a * b, 1);
    return { type, dims, byteSize: 4 * n, ptr: this.alloc(4 * n) } as FakeTensor;
  }
  u32(t: Tensor): Uint32Array {
    return new Uint32Array(this.mem.buffer, (t as FakeTensor).ptr, t.dims[0]);
  }
  asBackend(): Backend {
    return this as unknown as Backend;
  }
}

/** Value stored at position p: a hash of tokens[0..p], layer and K/V mixed in. */
function stamp(h: number, il: number, kv: number): number {
  return (Math.imul(h ^ (il * 0x9e3779b1), 0x85ebca6b) ^ (kv ? 0xc2b2ae35 : 0)) >>> 0;
}

function prefixHashes(tokens: ArrayLike<number>, n: number): Uint32Array {
  const out = new Uint32Array(n);
  let h = 2166136261;
  for (let p = 0; p < n; p++) {
    h = Math.imul(h ^ tokens[p], 16777619) >>> 0;
    out[p] = h;
  }
  return out;
}

/**
 * What a model's forward does to the cache: writes positions [seq.n, seq.n + len) through the
 * bound layer tables (first 4 bytes of each row: the stamp), then commits.
 */
export function fakeForward(be: FakeBackend, cache: KvCache, mgr: KvManager, seq: KvSequence, tokens: ArrayLike<number>, len: number): void {
  mgr.prepare(seq, len);
  const all = Array.from(seq.tokens.subarray(0, seq.n)).concat(Array.from({ length: len }, (_, i) => tokens[seq.n + i]));
  const h = prefixHashes(all, all.length);
  const pool = seq.state.pool;
  const kRow = pool.kPageBytes / pool.pageSize;
  const vRow = pool.vPageBytes / pool.pageSize;
  for (let il = 0; il < cache.shape.nLayer; il++) {
    const L = cache.layer(il);
    const kt = be.u32(L.kPages);
    const vt = be.u32(L.vPages);
    for (let p = seq.n; p < seq.n + len; p++) {
      const slot = p % pool.pageSize;
      const page = Math.floor(p / pool.pageSize);
      new DataView(be.mem.buffer).setUint32(kt[page] + slot * kRow, stamp(h[p], il, 0), true);
      new DataView(be.mem.buffer).setUint32(vt[page] + slot * vRow, stamp(h[p], il, 1), true);
    }
  }
  mgr.commit(seq, tokens, seq.n, len);
}

/** Positions [0, seq.n) hold the stamps of seq's own tokens (read through the bound tables). Returns the first wrong position or −1. */
export function checkCache(be: FakeBackend, cache: KvCache, mgr: KvManager, seq: KvSequence): number {
  mgr.bind(seq);
  const h = prefixHashes(seq.tokens, seq.n);
  const pool = seq.state.pool;
  const kRow = pool.kPageBytes / pool.pageSize;
  const vRow = pool.vPageBytes / pool.pageSize;
  const dv = new DataView(be.mem.buffer);
  for (let il = 0; il < cache.shape.nLayer; il++) {
    const L = cache.layer(il);
    const kt = be.u32(L.kPages);
    const vt = be.u32(L.vPages);
    for (let p = 0; p < seq.n; p++) {
      const slot = p % pool.pageSize;
      const page = Math.floor(p / pool.pageSize);
      if (dv.getUint32(kt[page] + slot * kRow, true) !== stamp(h[p], il, 0)) return p;
      if (dv.getUint32(vt[page] + slot * vRow, true) !== stamp(h[p], il, 1)) return p;
    }
  }
  return -1;
}

/** A Map-backed Storage (values kept by reference, as a driver would return copies of). */
export class MapStorage implements Storage {
  readonly name = 'memory';
  readonly budgetBytes = 0;
  readonly map = new Map<string, StoredValue>();
  failing = false;
  gets = 0;
  private check(): void {
    if (this.failing) throw new Error('storage down');
  }
  async get(key: string): Promise<StoredValue | null> {
    this.gets++;
    this.check();
    const v = this.map.get(key);
    return v ? { meta: { ...v.meta }, tensors: v.tensors.map((t) => ({ ...t, bytes: t.bytes.slice() })) } : null;
  }
  async put(key: string, value: StoredValue): Promise<void> {
    this.check();
    this.map.set(key, { meta: { ...value.meta }, tensors: value.tensors.map((t) => ({ ...t, bytes: t.bytes.slice() })) });
  }
  async has(key: string): Promise<boolean> {
    this.check();
    return this.map.has(key);
  }
  async delete(key: string): Promise<boolean> {
    this.check();
    return this.map.delete(key);
  }
  async list(prefix: string): Promise<string[]> {
    this.check();
    return [...this.map.keys()].filter((k) => k.startsWith(prefix));
  }
  async usedBytes(): Promise<number> {
    let n = 0;
    for (const v of this.map.values()) for (const t of v.tensors) n += t.bytes.byteLength;
    return n;
  }
  async close(): Promise<void> {}
}
