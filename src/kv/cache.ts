/**
 * KV cache, the model's side: per layer, the page tables of the sequence being run.
 *
 * K and V live in fixed-size pages of `pageSize` tokens (page-pool.ts; ABI.md KV_STORE layout
 * `[pageSize][kvRowBytes(type, nHeadKv·headDim)]`). A sequence's page table is a list of page
 * ids; `bind` writes their backend handles into the per-layer u32 tables that KV_STORE and
 * ATTENTION read in place (no gather copy). Models call only `layer(il)`.
 *
 * The manager's side (start a sequence, fork a prefix, remove a range, release) is manager.ts.
 * Without a manager (encoders), the cache binds pages 0..maxPages−1 of its default pool in order.
 */
import type { Backend, KvLayerView, Tensor } from '../backend/backend.ts';
import { TesseraError, ValidationError } from '../errors.ts';
import { GgmlType } from '../gguf/types.ts';
import { kvTypeId, kvTypeName, type KvTypes } from './kv-type.ts';
import { pageBytesOf, PagePool, type KvShape } from './page-pool.ts';

export class KvCacheFullError extends TesseraError {
  constructor(need: number, capacity: number, detail?: string) {
    super('kv_cache_full', detail ?? `the context needs ${need} positions but the KV cache holds ${capacity} (raise num_ctx)`);
  }
}

export interface KvCacheSpec {
  nLayer: number;
  nHeadKv: number;
  headDim: number;
  /** Positions one sequence may hold. */
  nCtx: number;
  pageSize?: number; // tokens per page, default DEFAULT_PAGE_SIZE (1..4095; the engine allows 16..256)
  kvType?: GgmlType; // K's type: F16 (default), F32, Q8_0, Q4_0
  vType?: GgmlType; // V's type (default: kvType)
  /** Byte budget of each K/V type pair's pool of hot pages (default: `hotContexts` sequences of nCtx). */
  hotBytes?: number;
  /** Default 1. */
  hotContexts?: number;
  /**
   * Sets of layer page tables (default 1): one per sequence that runs in the same forward (continuous batching,
   * src/batch/scheduler.ts), so each sequence's tables stay bound while the others run.
   */
  tableSets?: number;
}

/** A layer view whose tables are rebound per sequence (types follow the bound pool). */
interface LayerState {
  kPages: Tensor; // u32 [maxPages] page handles
  vPages: Tensor; // u32 [maxPages]
  pageSize: number;
  kvType: GgmlType;
  vType: GgmlType;
}

/**
 * Tokens per page by default: 16, the smallest page that is as fast as any.
 * - Speed: `node dist/bench/kv.js pagesize --shape 1b --prompt 512 --predict 16 --reps 3` (2026-11-27, idle 2-core
 *   AVX2 machine, 1B Q4_0, 2 threads) ran prefill/decode at 16: 33.0/15.3 tok/s, 32: 0.985/0.972 of that, 64:
 *   0.986/0.987, 128: 0.889/0.956, 256: 0.975/0.969: flat over 16..64, slower at 128.
 * - Reuse: `node dist/bench/kv.js chat --shape 1b` (2026-11-27; a 300-token system prompt shared by 4 users, a 4-turn
 *   conversation, then a fresh engine on the same storage; page sizes interleaved). Within a process every page size
 *   reuses the whole shared prefix, since the page where prompts diverge or end is matched by its leading tokens
 *   (manager.ts): 25 tokens evaluated per request and 27 per turn at 16/32/64/128, the least possible. Before that
 *   matching the same workload evaluated 37/37/69/25 per request (tiny shape; the prompt's tail came back only from a
 *   finished sequence's partial last page, so a page filled by the answer cost up to a page, and 128 won only
 *   because its boundary page stayed partial). From storage pages come back whole: a new user in a fresh engine
 *   evaluated 37 tokens at 16 and 32, 69 at 64 and 128; and the KV in use after the workload was 21/25/32/32 MiB
 *   (larger pages hold more unused rows in each partial page and copy). TTFT, on a machine loaded 8.6–9.5 by other
 *   jobs (so ~4× an idle one's): in-process 4.5/4.5/4.9/4.5 s per request at 16/32/64/128 (flat, as the work is), the
 *   fresh engine 8.1/8.3/15.0/15.7 s (its 37 vs 69 tokens); an earlier run at load 7–9, noisier, the same order
 *   (in-process 4.5–6.5 s with no trend, fresh engine 8.6/6.0/10.7/10.6 s).
 */
export const DEFAULT_PAGE_SIZE = 16;
/** K/V type pairs one model serves at once (each pool allocates its own hot budget at first use). */
export const MAX_POOLS = 4;

export class KvCache {
  /** Positions one sequence can hold: maxPages · pageSize. */
  readonly capacity: number;
  readonly pageSize: number;
  readonly maxPages: number;
  readonly kvType: GgmlType;
  readonly defaultTypes: KvTypes;
  readonly shape: KvShape;
  readonly hotBytes: number;
  /** Sets of layer tables: [tableSets][nLayer]. */
  readonly tableSets: number;
  private readonly sets: LayerState[][] = [];
  private readonly kTables: Uint32Array[][] = [];
  private readonly vTables: Uint32Array[][] = [];
  private readonly pools = new Map<string, PagePool>();
  /** The default pool. */
  readonly main: PagePool;

  constructor(
    private readonly be: Backend,
    spec: KvCacheSpec,
  ) {
    this.pageSize = spec.pageSize ?? DEFAULT_PAGE_SIZE;
    if (!Number.isInteger(this.pageSize) || this.pageSize < 1 || this.pageSize >= 4096) throw new ValidationError(`KV page size must be an integer in 1..4095, got ${this.pageSize}`);
    this.kvType = spec.kvType ?? GgmlType.F16;
    this.defaultTypes = { k: kvTypeName(this.kvType), v: kvTypeName(spec.vType ?? this.kvType) };
    this.shape = { nLayer: spec.nLayer, nHeadKv: spec.nHeadKv, headDim: spec.headDim };
    this.maxPages = Math.ceil(spec.nCtx / this.pageSize);
    this.capacity = this.maxPages * this.pageSize;
    this.tableSets = Math.max(1, spec.tableSets ?? 1);
    for (let t = 0; t < this.tableSets; t++) {
      this.sets.push([]);
      this.kTables.push([]);
      this.vTables.push([]);
    }
    for (let il = 0; il < spec.nLayer; il++) {
      be.group?.(il); // sharded backends: the tables (and, in PagePool, the pages) of layer il live with its weights
      for (let t = 0; t < this.tableSets; t++) {
        const kPages = be.buffer(GgmlType.I32, [this.maxPages]);
        const vPages = be.buffer(GgmlType.I32, [this.maxPages]);
        this.sets[t].push({ kPages, vPages, pageSize: this.pageSize, kvType: this.kvType, vType: kvTypeId(this.defaultTypes.v) });
      }
    }
    this.hotBytes = spec.hotBytes ?? (spec.hotContexts ?? 1) * this.maxPages * pageBytesOf(this.shape, this.defaultTypes, this.pageSize);
    this.main = this.pool(this.defaultTypes);
    const ids = Int32Array.from({ length: Math.min(this.maxPages, this.main.nPages) }, (_, i) => i);
    this.bind(this.main, ids, ids.length);
  }

  /** Bytes of the default pool's pages. */
  get bytes(): number {
    return this.main.nPages * this.main.pageBytes;
  }

  /** The pool of a K/V type pair, allocated at first use with `hotBytes` of pages. */
  pool(types: KvTypes): PagePool {
    const key = `${types.k}/${types.v}`;
    let p = this.pools.get(key);
    if (!p) {
      if (this.pools.size >= MAX_POOLS) {
        throw new KvCacheFullError(0, 0, `KV type pair ${key} would be a ${MAX_POOLS + 1}th page pool (have ${[...this.pools.keys()].join(', ')}); each pool takes its own hot budget, so at most ${MAX_POOLS} K/V type pairs are served per model`);
      }
      const pageBytes = pageBytesOf(this.shape, types, this.pageSize);
      const n = Math.floor(this.hotBytes / pageBytes);
      if (n < 1) throw new KvCacheFullError(this.pageSize, 0, `the KV hot budget of ${this.hotBytes} bytes holds no page of ${pageBytes} bytes (${key})`);
      p = new PagePool(this.be, this.shape, types, this.pageSize, n);
      this.pools.set(key, p);
    }
    return p;
  }

  /** Every pool allocated so far. */
  allPools(): PagePool[] {
    return [...this.pools.values()];
  }

  /** Points the layer tables of table set `set` at `pages[0..n)` of `pool` (a sequence's page table). */
  bind(pool: PagePool, pages: Int32Array, n: number, set = 0): void {
    if (n > this.maxPages) throw new KvCacheFullError(n * this.pageSize, this.capacity);
    const layers = this.sets[set];
    for (let il = 0; il < layers.length; il++) {
      const L = layers[il];
      const kt = (this.kTables[set][il] ??= this.be.u32(L.kPages));
      const vt = (this.vTables[set][il] ??= this.be.u32(L.vPages));
      const base = il * pool.nPages;
      for (let i = 0; i < n; i++) {
        kt[i] = pool.kAddr[base + pages[i]];
        vt[i] = pool.vAddr[base + pages[i]];
      }
      L.kvType = kvTypeId(pool.types.k);
      L.vType = kvTypeId(pool.types.v);
    }
  }

  /** Writes page slot `i` of every layer table of set `set` (a page appended to the sequence bound there). */
  bindPage(pool: PagePool, i: number, page: number, set = 0): void {
    const kt = this.kTables[set];
    const vt = this.vTables[set];
    for (let il = 0; il < kt.length; il++) {
      kt[il][i] = pool.kAddr[il * pool.nPages + page];
      vt[il][i] = pool.vAddr[il * pool.nPages + page];
    }
  }

  /** Layer `il`'s view of the sequence bound to table set `set`. */
  layer(il: number, set = 0): KvLayerView {
    return this.sets[set][il];
  }

  /** Throws KvCacheFullError unless `n` positions fit one sequence. */
  ensure(n: number): void {
    if (n > this.capacity) throw new KvCacheFullError(n, this.capacity);
  }
}
