/**
 * KV cache, the manager's side: sequences, the prefix index, and the tiers.
 *
 * - A sequence (`KvSequence`) owns a page table: ids of pages of one pool (one K/V type pair).
 *   `begin` starts one for a prompt, reusing every cached page of its longest cached prefix
 *   (by reference count, no copy), then, for the page after it, the cached page under the same
 *   parent whose leading tokens match most of what is left of the prompt: a full page (hot or host
 *   tier) or the partial last page of a finished sequence, copied (copy on write: the copy's
 *   matching rows are used, the rest is overwritten). At least one prompt token is always left to
 *   evaluate. Leading-token matching is in-process only: storage is looked up by whole-page key.
 *   `prepare` adds pages for the next batch, `commit` records what the forward wrote (full pages
 *   enter the index at once, so a request running beside this one shares them), `fork` shares a
 *   prefix with a new sequence, `remove` drops a range at the end, `release` ends a sequence.
 * - The prefix index maps a full page's chain key (chain-hash.ts) to where the page is:
 *   hot (a page of backend memory), host (a copy in a JS ArrayBuffer) or storage (page-store.ts);
 *   in memory it also maps a parent key to its child pages with their token ids, so the page where
 *   a prompt diverges from a cached one is matched by its longest common leading run.
 * - Tiers: pages no sequence holds stay hot until a new page is needed; then the victim is the
 *   page with the lowest decayed access frequency (LRFU: on each use `crf = 1 + crf·2^(−Δ/H)`,
 *   Δ = requests since its last use, H = `halfLife`), so a page used by many requests outlives a
 *   page used once more recently. A victim moves to host memory while `hostBytes` allows (host
 *   victims picked the same way), else it leaves memory: it stays findable in storage when
 *   storage is configured (full pages are written behind as they fill, within the store's budget).
 *   A prompt whose prefix is in a lower tier promotes those pages back instead of recomputing.
 *
 * Ranges are half-open `[from, to)` in positions. Errors: KvCacheFullError (every page held by
 * running sequences, or the sequence exceeds the context), KvRangeError.
 */
import { TesseraError } from '../errors.ts';
import type { Storage } from '../storage/types.ts';
import type { KvCache } from './cache.ts';
import { KvCacheFullError } from './cache.ts';
import { chainHash, chainSalt, ROOT_KEY } from './chain-hash.ts';
import type { KvTypes } from './kv-type.ts';
import type { PagePool } from './page-pool.ts';
import { decodePage, encodePage, pageStorageKey, PageStore } from './page-store.ts';

export class KvRangeError extends TesseraError {
  constructor(message: string) {
    super('kv_range', message);
  }
}

export interface KvManagerOptions {
  /** Identifies the model's weights (part of every page key). */
  modelDigest: string;
  /** Byte budget of the host tier (default 0: no host tier). */
  hostBytes?: number;
  /** Storage tier (and persistence across processes); null/omitted: none. */
  storage?: Storage | null;
  /** Write full pages to storage as they fill (default true with storage). */
  writeBehind?: boolean;
  /** Timeout of each storage call, ms (default 2000). */
  storageTimeoutMs?: number;
  /** Half-life of a page's access frequency, in requests (default 8). */
  halfLife?: number;
  /** Partial pages kept per parent key (default 4). */
  tailsPerKey?: number;
  log?: (msg: string) => void;
}

type Tier = 'hot' | 'host';

/** A full page in the index. */
interface PageEntry {
  key: string;
  parent: string;
  start: number; // first position
  tokens: Int32Array; // i32 [pageSize]: the token at each position of the page
  images: readonly KvImageSpan[]; // image spans overlapping the page
  tier: Tier;
  page: number; // hot: page id; host: −1
  host: Uint8Array | null; // host: the page's bytes (PagePool.copyOut layout)
  crf: number;
  last: number;
}

/** The partial last page of a finished sequence: positions [start, start + tokens.length). */
interface Tail {
  parent: string;
  start: number;
  tokens: Int32Array;
  images: readonly KvImageSpan[]; // image spans overlapping the page
  page: number;
  crf: number;
  last: number;
}

/** Per pool: the index over its pages. */
class PoolState {
  readonly byKey = new Map<string, PageEntry>();
  /** Parent key → the in-memory (hot or host) full pages under it. */
  readonly children = new Map<string, Set<PageEntry>>();
  /** [nPages]: the index entry of a hot page, or null. */
  readonly byPage: (PageEntry | null)[];
  readonly tails = new Map<string, Tail[]>();
  /** [nPages]: the tail that owns a page, or null. */
  readonly tailOf: (Tail | null)[];
  constructor(
    readonly pool: PagePool,
    readonly salt: string,
  ) {
    this.byPage = new Array(pool.nPages).fill(null);
    this.tailOf = new Array(pool.nPages).fill(null);
  }
  /** Enters `e` under its key and its parent. */
  add(e: PageEntry): void {
    this.byKey.set(e.key, e);
    let set = this.children.get(e.parent);
    if (!set) this.children.set(e.parent, (set = new Set()));
    set.add(e);
  }
  /** Takes `e` out of the in-memory index. */
  remove(e: PageEntry): void {
    if (this.byKey.get(e.key) === e) this.byKey.delete(e.key);
    const set = this.children.get(e.parent);
    if (set?.delete(e) && set.size === 0) this.children.delete(e.parent);
  }
}

/** Positions [start, end) hold an image's embedding rows; `hash` names the image (sha256 of its bytes, settings, encoder). */
export interface KvImageSpan {
  start: number;
  end: number;
  hash: string;
}

/** Hashes of the image spans that overlap positions [start, end), in order. */
export function imagesIn(spans: readonly KvImageSpan[], start: number, end: number): string[] {
  const out: string[] = [];
  for (const s of spans) if (s.start < end && s.end > start) out.push(`${s.hash}@${s.start - start}:${s.end - start}`);
  return out;
}

/** The spans that overlap positions [start, end). */
function spansIn(spans: readonly KvImageSpan[], start: number, end: number): KvImageSpan[] {
  return spans.filter((s) => s.start < end && s.end > start);
}

/**
 * Positions [start, start + m) of a cached page whose spans are `a` hold what a prompt whose spans
 * are `b` needs only up to the first position an image of one of them, not the same in both, covers:
 * the token ids there are placeholders. Returns m cut to that.
 */
function imageSafeRun(a: readonly KvImageSpan[], b: readonly KvImageSpan[], start: number, m: number): number {
  const same = (s: KvImageSpan, o: readonly KvImageSpan[]) => o.some((x) => x.hash === s.hash && x.start === s.start && x.end === s.end);
  for (const [x, y] of [
    [a, b],
    [b, a],
  ] as const) {
    for (const s of x) if (s.start < start + m && s.end > start && !same(s, y)) m = Math.max(0, s.start - start);
  }
  return m;
}

export class KvSequence {
  /** i32 [maxPages]: page ids; pages[0..nPages). */
  readonly pages: Int32Array;
  nPages = 0;
  /** Positions [0, n) hold K/V. */
  n = 0;
  /** i32 [capacity]: the token at each position. */
  readonly tokens: Int32Array;
  /** Chain keys of the full pages, keys[0..floor(n/pageSize)). */
  readonly keys: string[] = [];
  /** Prompt positions served from the cache at begin. */
  reused = 0;
  /** Image embedding rows among the positions (start-ordered): their hashes enter the keys of the pages they touch. */
  images: readonly KvImageSpan[] = [];
  released = false;
  /** The KvCache table set this sequence binds to (one per sequence that runs in the same forward). */
  tableSet = 0;
  constructor(
    readonly id: number,
    readonly state: PoolState,
    maxPages: number,
  ) {
    this.pages = new Int32Array(maxPages);
    this.tokens = new Int32Array(maxPages * state.pool.pageSize);
  }
  get types(): KvTypes {
    return this.state.pool.types;
  }
}

export interface KvTierStats {
  pages: number;
  bytes: number;
  budgetBytes: number;
}

export interface KvStats {
  pageSize: number;
  /** bytes: pages in use; allocatedBytes: the pools' memory (≤ budgetBytes per pool). */
  hot: KvTierStats & { allocatedBytes: number; held: number; cached: number; tails: number; free: number };
  host: KvTierStats;
  storage: { enabled: boolean; pendingWrites: number; writes: number; writeErrors: number; writesSkipped: number; reads: number; readHits: number; readErrors: number; corrupt: number };
  /** Full pages found in a tier at begin. */
  hits: number;
  /** Lookups that found nothing (one per begin that stopped before the last reusable page). */
  misses: number;
  /** Pages brought back to hot from host or storage. */
  promotes: number;
  /** Pages moved down a tier (hot → host, or out of memory into storage). */
  demotes: number;
  /** Pages dropped from memory with no copy kept anywhere. */
  drops: number;
  /** Partial pages of finished sequences reused by copy. */
  tailHits: number;
  /** Full pages (hot or host) reused in part by copy: the prompt matches their leading tokens only. */
  partialHits: number;
  /** Prompt tokens served from the cache. */
  reusedTokens: number;
}

export class KvManager {
  private readonly states = new Map<PagePool, PoolState>();
  private readonly hostBudget: number;
  private hostBytes = 0;
  private hostPages = 0;
  private readonly store: PageStore | null;
  private readonly writeBehind: boolean;
  private readonly halfLife: number;
  private readonly tailsPerKey: number;
  private clock = 0;
  private nextId = 1;
  /** Per KvCache table set: the sequence its tables point at. */
  private readonly bound: (KvSequence | null)[];
  private readonly c = { hits: 0, misses: 0, promotes: 0, demotes: 0, drops: 0, tailHits: 0, partialHits: 0, reusedTokens: 0 };

  constructor(
    readonly cache: KvCache,
    readonly opts: KvManagerOptions,
  ) {
    this.hostBudget = opts.hostBytes ?? 0;
    this.store = opts.storage ? new PageStore(opts.storage, opts.storageTimeoutMs ?? 2000, opts.log ?? ((m) => console.warn(m))) : null;
    this.writeBehind = opts.writeBehind ?? true;
    this.halfLife = opts.halfLife ?? 8;
    this.tailsPerKey = opts.tailsPerKey ?? 4;
    this.bound = new Array(cache.tableSets).fill(null);
  }

  private state(types: KvTypes): PoolState {
    const pool = this.cache.pool(types);
    let s = this.states.get(pool);
    if (!s) {
      s = new PoolState(pool, chainSalt(this.opts.modelDigest, types.k, types.v, pool.pageSize));
      this.states.set(pool, s);
    }
    return s;
  }

  /**
   * Starts a sequence for `prompt` and binds it. With `reuse` (default), positions of the longest
   * cached prefix (at most prompt.length − 1) are filled from the cache: `seq.n` = `seq.reused`.
   */
  async begin(prompt: ArrayLike<number>, types: KvTypes = this.cache.defaultTypes, opts: { reuse?: boolean; tableSet?: number; images?: readonly KvImageSpan[] } = {}): Promise<KvSequence> {
    const st = this.state(types);
    const ps = st.pool.pageSize;
    const seq = new KvSequence(this.nextId++, st, this.cache.maxPages);
    seq.images = opts.images ?? [];
    const set = opts.tableSet ?? 0;
    if (!(Number.isInteger(set) && set >= 0 && set < this.cache.tableSets)) throw new KvRangeError(`begin: table set ${set} is outside [0, ${this.cache.tableSets})`);
    seq.tableSet = set;
    this.clock++;
    if (opts.reuse !== false && prompt.length > 1) {
      try {
        const limit = Math.min(prompt.length - 1, this.cache.capacity);
        let parent = ROOT_KEY;
        // Full pages.
        while ((seq.nPages + 1) * ps <= limit) {
          const start = seq.nPages * ps;
          const key = chainHash(parent, st.salt, prompt, start, start + ps, imagesIn(seq.images, start, start + ps));
          const page = await this.findPage(st, key, parent, start, prompt, seq.images);
          if (page < 0) {
            this.c.misses++;
            break;
          }
          this.c.hits++;
          st.pool.refs[page]++;
          seq.pages[seq.nPages++] = page;
          seq.keys.push(key);
          for (let i = start; i < start + ps; i++) seq.tokens[i] = prompt[i];
          seq.n = start + ps;
          parent = key;
        }
        // The page after the last whole match is used in part, copied (copy on write). When the prompt
        // holds that page whole but its last token must be evaluated, the page itself, looked up by key
        // (in any tier, storage too); else the cached page under the same parent whose leading tokens
        // match most of the prompt's rest (in memory).
        const start = seq.nPages * ps;
        if (seq.n < limit && start + ps > limit && start + ps <= prompt.length) {
          const key = chainHash(parent, st.salt, prompt, start, start + ps, imagesIn(seq.images, start, start + ps));
          const full = await this.findPage(st, key, parent, start, prompt, seq.images);
          if (full >= 0) {
            this.c.hits++;
            this.copyInto(st, seq, full, null, prompt, limit - start);
          }
        }
        if (seq.n < limit && seq.n === start) this.reusePartial(st, seq, parent, prompt, limit);
      } catch (e) {
        if (!(e instanceof KvCacheFullError)) {
          this.release(seq);
          throw e;
        }
        // No page to promote into: recompute the rest (prepare may still fail with the same error).
      }
    }
    seq.reused = seq.n;
    this.c.reusedTokens += seq.n;
    this.bind(seq);
    return seq;
  }

  /**
   * A hot page holding `key` (promoted from host or storage when needed), or −1. `tokens` and `images`:
   * the prompt, whose positions [start, start + pageSize) the key names.
   */
  private async findPage(st: PoolState, key: string, parent: string, start: number, tokens: ArrayLike<number>, images: readonly KvImageSpan[]): Promise<number> {
    const e = st.byKey.get(key);
    if (e) {
      this.touch(e);
      if (e.tier === 'hot') return e.page;
      // Out of the host tier first, so that making room in it cannot evict this page.
      const bytes = e.host!;
      st.remove(e);
      this.hostBytes -= st.pool.pageBytes;
      this.hostPages--;
      let page: number;
      try {
        page = this.allocPage(st);
      } catch (err) {
        if (this.hostBytes + st.pool.pageBytes <= this.hostBudget) {
          st.add(e);
          this.hostBytes += st.pool.pageBytes;
          this.hostPages++;
        }
        throw err;
      }
      st.pool.copyIn(page, bytes);
      e.host = null;
      e.tier = 'hot';
      e.page = page;
      st.add(e);
      st.byPage[page] = e;
      this.c.promotes++;
      return page;
    }
    if (!this.store) return -1;
    const skey = pageStorageKey(this.opts.modelDigest, key);
    const v = await this.store.get(skey);
    if (!v) return -1;
    const d = decodePage(st.pool, v, { modelDigest: this.opts.modelDigest, chainKey: key, parentKey: parent, tokenStart: start });
    if ('bad' in d) {
      await this.store.drop(skey);
      return -1;
    }
    if (st.byKey.has(key)) return this.findPage(st, key, parent, start, tokens, images); // filled while we waited
    const page = this.allocPage(st);
    st.pool.copyIn(page, d.bytes);
    const ps = st.pool.pageSize;
    const ent: PageEntry = { key, parent, start, tokens: Int32Array.from({ length: ps }, (_, i) => tokens[start + i]), images: spansIn(images, start, start + ps), tier: 'hot', page, host: null, crf: 0, last: this.clock };
    this.touch(ent);
    st.add(ent);
    st.byPage[page] = ent;
    this.c.promotes++;
    return page;
  }

  /**
   * Positions [seq.n, seq.n + m) from the cached page under `parent` (a full page in memory, or a
   * finished sequence's partial last page) whose leading tokens match the most of `prompt[seq.n, limit)`:
   * m rows of a copy of it (copy on write). A hot page wins a tie over a host one (a cheaper copy).
   */
  private reusePartial(st: PoolState, seq: KvSequence, parent: string, prompt: ArrayLike<number>, limit: number): void {
    const start = seq.n;
    let best: PageEntry | Tail | null = null;
    let bestLen = 0;
    let bestHot = false;
    const consider = (c: PageEntry | Tail, hot: boolean) => {
      let m = 0;
      const max = Math.min(c.tokens.length, limit - start);
      while (m < max && c.tokens[m] === prompt[start + m]) m++;
      m = imageSafeRun(c.images, seq.images, start, m);
      if (m > bestLen || (m > 0 && m === bestLen && hot && !bestHot)) {
        best = c;
        bestLen = m;
        bestHot = hot;
      }
    };
    for (const e of st.children.get(parent) ?? []) consider(e, e.tier === 'hot');
    for (const t of st.tails.get(parent) ?? []) consider(t, true);
    const c = best as PageEntry | Tail | null;
    if (!c) return;
    this.touch(c);
    if ('key' in c) {
      this.c.partialHits++;
      if (c.tier === 'hot') this.copyInto(st, seq, c.page, null, prompt, bestLen);
      else this.copyInto(st, seq, -1, c.host!, prompt, bestLen);
    } else {
      this.c.tailHits++;
      this.copyInto(st, seq, c.page, null, prompt, bestLen);
    }
  }

  /**
   * Appends to `seq` a new page holding a copy of the first `m` positions of hot page `from`
   * (or of the host bytes `host`: the whole page is copied, the rows past m are overwritten later).
   */
  private copyInto(st: PoolState, seq: KvSequence, from: number, host: Uint8Array | null, prompt: ArrayLike<number>, m: number): void {
    if (from >= 0) st.pool.refs[from]++; // pinned while a page is found and copied
    try {
      const page = this.allocPage(st);
      if (host) st.pool.copyIn(page, host);
      else st.pool.copyPage(from, page, m);
      st.pool.refs[page] = 1;
      seq.pages[seq.nPages++] = page;
    } finally {
      if (from >= 0) st.pool.refs[from]--;
    }
    const start = seq.n;
    for (let i = start; i < start + m; i++) seq.tokens[i] = prompt[i];
    seq.n = start + m;
  }

  /** Points the model's layer tables at `seq`'s pages (a no-op when it is bound already). */
  bind(seq: KvSequence): void {
    if (this.bound[seq.tableSet] === seq) return;
    this.cache.bind(seq.state.pool, seq.pages, seq.nPages, seq.tableSet);
    this.bound[seq.tableSet] = seq;
  }

  /** Makes room for positions [seq.n, seq.n + nNew) and binds `seq`. Throws KvCacheFullError. */
  prepare(seq: KvSequence, nNew: number): void {
    if (seq.released) throw new KvRangeError(`sequence ${seq.id} was released`);
    const need = seq.n + nNew;
    this.cache.ensure(need);
    this.bind(seq);
    const ps = seq.state.pool.pageSize;
    while (seq.nPages * ps < need) {
      const page = this.allocPage(seq.state);
      seq.state.pool.refs[page] = 1;
      seq.pages[seq.nPages] = page;
      this.cache.bindPage(seq.state.pool, seq.nPages, page, seq.tableSet);
      seq.nPages++;
    }
  }

  /** Records that the last forward wrote `tokens[from, from + len)` at positions [seq.n, seq.n + len). */
  commit(seq: KvSequence, tokens: ArrayLike<number>, from: number, len: number): void {
    const st = seq.state;
    const ps = st.pool.pageSize;
    for (let i = 0; i < len; i++) seq.tokens[seq.n + i] = tokens[from + i];
    seq.n += len;
    while ((seq.keys.length + 1) * ps <= seq.n) {
      const i = seq.keys.length;
      const parent = i === 0 ? ROOT_KEY : seq.keys[i - 1];
      const key = chainHash(parent, st.salt, seq.tokens, i * ps, (i + 1) * ps, imagesIn(seq.images, i * ps, (i + 1) * ps));
      seq.keys.push(key);
      this.index(st, seq, key, parent, i * ps, seq.pages[i]);
    }
  }

  /** `commit` of one decoded token (no array needed). */
  commitToken(seq: KvSequence, token: number): void {
    seq.tokens[seq.n] = token;
    this.commit(seq, seq.tokens, seq.n, 1);
  }

  /** Enters page `page` of `seq` (positions [start, start + pageSize)), which just became full, and writes it behind. */
  private index(st: PoolState, seq: KvSequence, key: string, parent: string, start: number, page: number): void {
    const old = st.byKey.get(key);
    if (old && old.tier === 'hot') return; // computed by another sequence too: ours stays private
    if (old) {
      // A host copy of the same page: the hot one replaces it.
      this.hostBytes -= st.pool.pageBytes;
      this.hostPages--;
      st.remove(old);
    }
    const ps = st.pool.pageSize;
    const e: PageEntry = { key, parent, start, tokens: seq.tokens.slice(start, start + ps), images: spansIn(seq.images, start, start + ps), tier: 'hot', page, host: null, crf: 0, last: this.clock };
    this.touch(e);
    st.add(e);
    st.byPage[page] = e;
    if (this.store && this.writeBehind && !old) {
      const bytes = new Uint8Array(st.pool.pageBytes);
      st.pool.copyOut(page, bytes);
      void this.store.putBehind(pageStorageKey(this.opts.modelDigest, key), encodePage(st.pool, bytes, { modelDigest: this.opts.modelDigest, chainKey: key, parentKey: parent, tokenStart: start }));
    }
  }

  /** A new sequence holding positions [0, n) of `seq` (full pages shared, a partial page copied). */
  fork(seq: KvSequence, n = seq.n): KvSequence {
    if (n < 0 || n > seq.n) throw new KvRangeError(`fork: ${n} is outside [0, ${seq.n}]`);
    const st = seq.state;
    const ps = st.pool.pageSize;
    const f = new KvSequence(this.nextId++, st, this.cache.maxPages);
    const full = Math.floor(n / ps);
    for (let i = 0; i < full; i++) {
      st.pool.refs[seq.pages[i]]++;
      f.pages[f.nPages++] = seq.pages[i];
      f.keys.push(seq.keys[i]);
    }
    if (n > full * ps) {
      const page = this.allocPage(st);
      st.pool.copyPage(seq.pages[full], page, n - full * ps);
      st.pool.refs[page] = 1;
      f.pages[f.nPages++] = page;
    }
    f.tokens.set(seq.tokens.subarray(0, n));
    f.images = seq.images;
    f.n = n;
    return f;
  }

  /** Removes positions [from, to) of `seq`; only a range reaching its end (`to ≥ seq.n`) can go. */
  remove(seq: KvSequence, from: number, to = seq.n): void {
    if (!(Number.isInteger(from) && from >= 0 && from <= to)) throw new KvRangeError(`remove: bad range [${from}, ${to})`);
    if (to < seq.n) throw new KvRangeError(`remove: only a range at the end can be removed ([${from}, ${to}) leaves positions up to ${seq.n}; shifting positions needs a RoPE re-rotation, which is not supported)`);
    if (from >= seq.n) return;
    const st = seq.state;
    const ps = st.pool.pageSize;
    const keep = Math.ceil(from / ps);
    for (let i = keep; i < seq.nPages; i++) this.unref(st, seq.pages[i]);
    seq.nPages = keep;
    seq.keys.length = Math.min(seq.keys.length, Math.floor(from / ps));
    // The page now partial is written next: copy it first when anyone else can see it.
    if (from % ps !== 0) {
      const last = seq.pages[keep - 1];
      if (st.pool.refs[last] > 1 || st.byPage[last]) {
        const page = this.allocPage(st);
        st.pool.copyPage(last, page, from % ps);
        st.pool.refs[page] = 1;
        this.unref(st, last);
        seq.pages[keep - 1] = page;
      }
    }
    seq.n = from;
    if (this.bound[seq.tableSet] === seq) this.bound[seq.tableSet] = null;
  }

  /** Ends a sequence: its partial last page is kept for reuse (copy on write), its full pages stay cached. */
  release(seq: KvSequence): void {
    if (seq.released) return;
    seq.released = true;
    const st = seq.state;
    const ps = st.pool.pageSize;
    const full = Math.floor(seq.n / ps);
    if (seq.n > full * ps && seq.nPages > full) {
      const page = seq.pages[full];
      const parent = full === 0 ? ROOT_KEY : seq.keys[full - 1];
      const tokens = seq.tokens.slice(full * ps, seq.n);
      const list = st.tails.get(parent) ?? [];
      const dup = list.some((t) => t.tokens.length >= tokens.length && tokens.every((x, i) => t.tokens[i] === x));
      if (!dup && st.pool.refs[page] === 1 && !st.byPage[page]) {
        st.pool.refs[page] = 0;
        const t: Tail = { parent, start: full * ps, tokens, images: spansIn(seq.images, full * ps, (full + 1) * ps), page, crf: 1, last: this.clock };
        st.tailOf[page] = t;
        list.push(t);
        st.tails.set(parent, list);
        while (list.length > this.tailsPerKey) this.dropTail(st, list[0]);
        seq.nPages = full; // the tail owns that page now
      }
    }
    for (let i = 0; i < seq.nPages; i++) this.unref(st, seq.pages[i]);
    seq.nPages = 0;
    if (this.bound[seq.tableSet] === seq) this.bound[seq.tableSet] = null;
  }

  private unref(st: PoolState, page: number): void {
    const r = --st.pool.refs[page];
    if (r < 0) throw new Error(`KV page ${page} released twice`);
    if (r === 0 && !st.byPage[page] && !st.tailOf[page]) st.pool.give(page);
  }

  private dropTail(st: PoolState, t: Tail): void {
    const list = st.tails.get(t.parent)!;
    list.splice(list.indexOf(t), 1);
    if (list.length === 0) st.tails.delete(t.parent);
    st.tailOf[t.page] = null;
    st.pool.give(t.page);
  }

  private decay(last: number): number {
    return Math.pow(2, -(this.clock - last) / this.halfLife);
  }

  private touch(e: { crf: number; last: number }): void {
    e.crf = 1 + e.crf * this.decay(e.last);
    e.last = this.clock;
  }

  /**
   * A free page of `st`'s pool, evicting the cached page (or tail) of lowest decayed frequency
   * when none is free; `keep` is never evicted. Throws KvCacheFullError when every page is held.
   */
  private allocPage(st: PoolState, keep = -1): number {
    const p = st.pool.take();
    if (p >= 0) return p;
    let best = -1;
    let bestScore = Infinity;
    let bestStart = -1;
    for (let page = 0; page < st.pool.nPages; page++) {
      if (st.pool.refs[page] !== 0 || page === keep) continue;
      const e = st.byPage[page] ?? st.tailOf[page];
      if (!e) continue;
      const score = e.crf * this.decay(e.last);
      // Lowest frequency first; among equals the deepest page (its parent is needed to reach it).
      if (score < bestScore || (score === bestScore && e.start > bestStart)) {
        best = page;
        bestScore = score;
        bestStart = e.start;
      }
    }
    if (best < 0) {
      throw new KvCacheFullError(0, 0, `the KV cache is full: all ${st.pool.nPages} pages (${st.pool.types.k}/${st.pool.types.v}) are held by running sequences`);
    }
    const tail = st.tailOf[best];
    if (tail) this.dropTail(st, tail);
    else this.demote(st, st.byPage[best]!);
    const q = st.pool.take();
    if (q < 0) throw new Error('KV page pool: an evicted page did not come back');
    return q;
  }

  /** Moves a cached hot page out of backend memory: to the host tier when it fits, else out. */
  private demote(st: PoolState, e: PageEntry): void {
    const pageBytes = st.pool.pageBytes;
    if (pageBytes <= this.hostBudget) {
      while (this.hostBytes + pageBytes > this.hostBudget && this.evictHost()) {
        /* evicting */
      }
    }
    const page = e.page;
    st.byPage[page] = null;
    if (this.hostBytes + pageBytes <= this.hostBudget) {
      e.host = new Uint8Array(pageBytes);
      st.pool.copyOut(page, e.host);
      e.tier = 'host';
      e.page = -1;
      this.hostBytes += pageBytes;
      this.hostPages++;
      this.c.demotes++;
    } else {
      this.leaveMemory(st, e);
    }
    st.pool.give(page);
  }

  /** Drops the host page of lowest decayed frequency over all pools; false when there is none. */
  private evictHost(): boolean {
    let best: PageEntry | null = null;
    let bestSt: PoolState | null = null;
    let bestScore = Infinity;
    for (const st of this.states.values()) {
      for (const e of st.byKey.values()) {
        if (e.tier !== 'host') continue;
        const s = e.crf * this.decay(e.last);
        if (s < bestScore || (s === bestScore && best && e.start > best.start)) {
          best = e;
          bestSt = st;
          bestScore = s;
        }
      }
    }
    if (!best || !bestSt) return false;
    this.hostBytes -= bestSt.pool.pageBytes;
    this.hostPages--;
    best.host = null;
    this.leaveMemory(bestSt, best);
    return true;
  }

  /** An entry leaves memory: it stays findable in storage when written there, else it is gone. */
  private leaveMemory(st: PoolState, e: PageEntry): void {
    st.remove(e);
    if (this.store && this.writeBehind) this.c.demotes++;
    else this.c.drops++;
  }

  /** Waits for the storage writes in flight (tests, shutdown). */
  async flush(): Promise<void> {
    while (this.store && this.store.pendingWrites > 0) await new Promise((r) => setTimeout(r, 5));
  }

  stats(): KvStats {
    let held = 0;
    let cached = 0;
    let tails = 0;
    let free = 0;
    let bytes = 0;
    let allocated = 0;
    let budget = 0;
    for (const pool of this.cache.allPools()) {
      const st = this.states.get(pool);
      allocated += pool.nPages * pool.pageBytes;
      budget += this.cache.hotBytes;
      free += pool.freePages;
      for (let p = 0; p < pool.nPages; p++) {
        const used = pool.refs[p] > 0 || !!st?.byPage[p] || !!st?.tailOf[p];
        if (pool.refs[p] > 0) held++;
        else if (st?.byPage[p]) cached++;
        else if (st?.tailOf[p]) tails++;
        if (used) bytes += pool.pageBytes;
      }
    }
    const s = this.store;
    return {
      pageSize: this.cache.pageSize,
      hot: { pages: held + cached + tails, bytes, budgetBytes: budget, allocatedBytes: allocated, held, cached, tails, free },
      host: { pages: this.hostPages, bytes: this.hostBytes, budgetBytes: this.hostBudget },
      storage: { enabled: !!s, pendingWrites: s?.pendingWrites ?? 0, ...(s?.counts ?? { reads: 0, readHits: 0, readErrors: 0, corrupt: 0, writes: 0, writeErrors: 0, writesSkipped: 0 }) },
      ...this.c,
    };
  }
}
