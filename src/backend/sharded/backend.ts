/**
 * A Backend over several WASM instances ("shards"), each with its own memory (< 4 GiB, wasm32's limit) and
 * thread pool, so that a model larger than one instance can run. Placement is by layer (pipeline): the
 * model's `group(il)` hint says which layer the next weights and KV pages belong to, and `layerShard[il]`
 * says which shard holds that layer. Weights before the first hint (token embeddings, output) go to shard 0.
 *
 * Tensors:
 * - placed (weights, from `weight`): on one shard only. An op runs on the shard of its placed operand
 *   (matmul/getRows/norm weight, bias), KV ops on the shard of their page tables, other ops where the
 *   previous op ran.
 * - replicated (activations, from `buffer`): one copy in every shard. A `Validity` per buffer tracks which
 *   shards hold the latest bytes; when an op reads bytes its shard lacks, a copy between memories is
 *   inserted in front of it. Host views (`f32`/`i32`/`u32`) look at the buffer's home shard (the placement
 *   current at allocation): before the first op after a compute, the host is taken to have written the
 *   home copy; at the end of `compute`, the latest bytes of host-visible buffers are copied home.
 *
 * `compute()` executes the recorded work as steps in order: a run of one shard's commands (a range of its
 * command list), or a copy of bytes between two memories. Ops are recorded exactly as the WASM backend
 * records them, on the same kernels, so results are bit-identical to one instance.
 * Nothing is allocated per op or per compute (steps live in a preallocated table).
 */
import { type AttentionParams, type Backend, type KvLayerView, type RopeParams, type Tensor, ropeStreams } from '../backend.ts';
import { TesseraError } from '../../errors.ts';
import type { GgmlType } from '../../gguf/types.ts';
import { WasmBackend, type WasmBackendOptions } from '../wasm/backend.ts';
import { Validity } from './validity.ts';

/** More runs and copies recorded before one compute than the step table holds. */
export class ShardStepsFullError extends TesseraError {
  constructor(capacity: number) {
    super('shard_steps_full', `sharded backend: more than ${capacity} runs and copies recorded before one compute`);
  }
}

/** A replicated buffer: one root allocation per shard, and which shards hold its latest bytes. */
class RepBuffer {
  hostVisible = false;
  constructor(
    readonly parts: Tensor[], // per shard: the root tensor in that shard's memory
    readonly validity: Validity,
    readonly home: number,
  ) {}
}

export class ShardTensor implements Tensor {
  constructor(
    readonly type: GgmlType,
    readonly dims: readonly number[],
    readonly byteSize: number,
    /** Placed: the shard holding it; replicated: -1. */
    readonly shard: number,
    /** Placed: [the tensor]; replicated: the tensor in each shard's memory. */
    readonly parts: Tensor[],
    readonly buf: RepBuffer | null,
    /** Byte offset of this view within the replicated root. */
    readonly offset: number,
  ) {}
}

const STEP_RUN = 0;
const STEP_COPY = 1;
const STEP_WORDS = 6; // run: kind, shard, from, to; copy: kind, from shard, to shard, src ptr, dst ptr, bytes
const STEP_CAPACITY = 8192;

export interface ShardedBackendOptions extends WasmBackendOptions {
  /** Shard of each layer (index = layer). Length = number of layers; values 0..shards−1. */
  layerShard: number[];
  shards: number;
}

const st = (t: Tensor) => t as ShardTensor;
const ptrOf = (t: Tensor) => (t as unknown as { ptr: number }).ptr;

export class ShardedBackend implements Backend {
  readonly name = 'wasm-sharded';
  private place = 0; // shard of the current placement group
  private cur = 0; // shard of the last recorded op
  private open = -1; // shard whose command run is open, -1: none
  private openFrom = 0;
  private nSteps = 0;
  private fresh = true; // no op recorded since the last compute
  private readonly steps = new Float64Array(STEP_CAPACITY * STEP_WORDS);
  private readonly hostBufs: RepBuffer[] = [];
  private readonly views: Int32Array[];
  private copyBuf: RepBuffer | null = null;
  private readonly onCopy = (from: number, to: number, a: number, e: number): void => {
    const b = this.copyBuf!;
    this.pushCopy(from, to, ptrOf(b.parts[from]) + a, ptrOf(b.parts[to]) + a, e - a);
  };

  private constructor(
    readonly shards: WasmBackend[],
    private readonly layerShard: number[],
  ) {
    this.views = shards.map((s) => new Int32Array(s.core.memory.buffer));
  }

  static async create(opts: ShardedBackendOptions): Promise<ShardedBackend> {
    if (!(Number.isInteger(opts.shards) && opts.shards >= 1 && opts.shards <= 32)) throw new RangeError(`sharded backend: shards must be 1..32, got ${opts.shards}`);
    for (const s of opts.layerShard) if (!(Number.isInteger(s) && s >= 0 && s < opts.shards)) throw new RangeError(`sharded backend: layer shard ${s} outside 0..${opts.shards - 1}`);
    const shards: WasmBackend[] = [];
    try {
      for (let i = 0; i < opts.shards; i++) shards.push(await WasmBackend.create({ threads: opts.threads, variant: opts.variant }));
    } catch (e) {
      await Promise.all(shards.map((s) => s.close()));
      throw e;
    }
    return new ShardedBackend(shards, opts.layerShard.slice());
  }

  get nThreads(): number {
    return this.shards[0].nThreads;
  }

  supportsWeightType(type: GgmlType): boolean {
    return this.shards[0].supportsWeightType(type);
  }

  group(index: number): void {
    this.place = this.layerShard[Math.min(index, this.layerShard.length - 1)] ?? 0;
  }

  // ---- memory ----
  async weight(type: GgmlType, dims: number[], fill: (dest: Uint8Array) => Promise<void>): Promise<Tensor> {
    const s = this.place;
    const t = await this.shards[s].weight(type, dims, fill);
    return new ShardTensor(type, dims, t.byteSize, s, [t], null, 0);
  }

  buffer(type: GgmlType, dims: number[]): Tensor {
    const parts = this.shards.map((sh) => sh.buffer(type, dims));
    const size = parts[0].byteSize;
    if (size % 4 !== 0) throw new RangeError(`sharded backend: buffer of ${size} bytes (a multiple of 4 expected)`);
    return new ShardTensor(type, dims, size, -1, parts, new RepBuffer(parts, new Validity(size), this.place), 0);
  }

  rows(t: Tensor, row: number, rows: number): Tensor {
    const s = st(t);
    const parts = s.parts.map((p, i) => this.shards[s.shard >= 0 ? s.shard : i].rows(p, row, rows));
    const rowBytes = t.byteSize / t.dims[t.dims.length - 1];
    return new ShardTensor(t.type, parts[0].dims, parts[0].byteSize, s.shard, parts, s.buf, s.offset + row * rowBytes);
  }

  private hostPart(t: Tensor): [WasmBackend, Tensor] {
    const s = st(t);
    if (s.shard >= 0) return [this.shards[s.shard], s.parts[0]];
    const b = s.buf!;
    if (!b.hostVisible) {
      b.hostVisible = true;
      this.hostBufs.push(b);
      if (this.fresh && this.nSteps === 0) this.syncHome(b);
    }
    return [this.shards[b.home], s.parts[b.home]];
  }
  f32(t: Tensor): Float32Array {
    const [sh, p] = this.hostPart(t);
    return sh.f32(p);
  }
  i32(t: Tensor): Int32Array {
    const [sh, p] = this.hostPart(t);
    return sh.i32(p);
  }
  u32(t: Tensor): Uint32Array {
    const [sh, p] = this.hostPart(t);
    return sh.u32(p);
  }

  bytesAllocated(): number {
    let n = 0;
    for (const s of this.shards) n += s.bytesAllocated();
    return n;
  }

  /** Bytes in use in each shard's memory. */
  shardBytes(): number[] {
    return this.shards.map((s) => s.bytesAllocated());
  }

  reserve(opts: { maxTokens: number; maxRowLen: number; maxKv: number }): void {
    for (const s of this.shards) s.reserve(opts);
  }

  allocPages(nPages: number, bytesPerPage: number): number[] {
    return this.shards[this.place].allocPages(nPages, bytesPerPage);
  }

  /** A page of layer `layer` lives in that layer's shard (pages were allocated under `group(layer)`). */
  pageView(page: number, bytes: number, layer = 0): Uint8Array {
    const sh = this.shards[this.layerShard[Math.min(layer, this.layerShard.length - 1)] ?? 0];
    if (!sh.pageView) throw new TesseraError('kv_page_copy_unsupported', `backend ${sh.name} cannot copy KV pages to the host (no pageView)`);
    return sh.pageView(page, bytes);
  }

  // ---- step table ----
  private closeRun(): void {
    const s = this.open;
    if (s < 0) return;
    const to = this.shards[s].recorded;
    if (to > this.openFrom) this.pushStep(STEP_RUN, s, this.openFrom, to, 0, 0);
    this.open = -1;
  }

  private pushStep(kind: number, a: number, b: number, c: number, d: number, e: number): void {
    if (this.nSteps >= STEP_CAPACITY) throw new ShardStepsFullError(STEP_CAPACITY);
    const o = this.nSteps++ * STEP_WORDS;
    const w = this.steps;
    w[o] = kind;
    w[o + 1] = a;
    w[o + 2] = b;
    w[o + 3] = c;
    w[o + 4] = d;
    w[o + 5] = e;
  }

  private pushCopy(from: number, to: number, src: number, dst: number, bytes: number): void {
    this.closeRun();
    this.pushStep(STEP_COPY, from, to, src, dst, bytes);
  }

  /** Starts recording an op on shard `s`: the first op after a compute takes host writes into account. */
  private on(s: number): number {
    if (this.fresh) {
      this.fresh = false;
      for (let i = 0; i < this.hostBufs.length; i++) this.hostBufs[i].validity.reset(this.hostBufs[i].home);
    }
    this.cur = s;
    return s;
  }

  /** Shard `s` reads `bytes` bytes of `t` (from its start): copies what it lacks first. */
  private rd(t: Tensor, bytes: number, s: number): void {
    const b = st(t).buf;
    if (!b) return;
    this.copyBuf = b;
    const a = st(t).offset;
    b.validity.read(a, a + bytes, s, this.onCopy);
  }

  /** Shard `s` writes `bytes` bytes of `t` (from its start). */
  private wr(t: Tensor, bytes: number, s: number): void {
    const b = st(t).buf;
    if (b) b.validity.write(st(t).offset, st(t).offset + bytes, s);
  }

  /** Opens the command run of shard `s` (after the copies its op needs were recorded). */
  private be(s: number): WasmBackend {
    if (this.open !== s) {
      this.closeRun();
      this.open = s;
      this.openFrom = this.shards[s].recorded;
    }
    return this.shards[s];
  }

  /** Shard of a placed tensor, or `fallback`. */
  private shardOf(t: Tensor | null | undefined, fallback: number): number {
    return t && st(t).shard >= 0 ? st(t).shard : fallback;
  }

  private p(t: Tensor, s: number): Tensor {
    const x = st(t);
    if (x.shard >= 0 && x.shard !== s) throw new RangeError(`sharded backend: a weight of shard ${x.shard} used by an op on shard ${s}`);
    return x.shard >= 0 ? x.parts[0] : x.parts[s];
  }
  private pn(t: Tensor | null, s: number): Tensor | null {
    return t ? this.p(t, s) : null;
  }

  // ---- ops ----
  matmul(out: Tensor, w: Tensor, x: Tensor, nTok: number): void {
    const s = this.on(this.shardOf(w, this.cur));
    this.rd(x, nTok * w.dims[0] * 4, s);
    this.wr(out, nTok * w.dims[1] * 4, s);
    this.be(s).matmul(this.p(out, s), this.p(w, s), this.p(x, s), nTok);
  }
  getRows(out: Tensor, table: Tensor, ids: Tensor, n: number): void {
    const s = this.on(this.shardOf(table, this.cur));
    this.rd(ids, n * 4, s);
    this.wr(out, n * table.dims[0] * 4, s);
    this.be(s).getRows(this.p(out, s), this.p(table, s), this.p(ids, s), n);
  }
  rmsNorm(out: Tensor, x: Tensor, w: Tensor | null, eps: number, n: number, nRows: number): void {
    const s = this.on(this.shardOf(w, this.cur));
    if (w) this.rd(w, n * 4, s);
    this.rd(x, n * nRows * 4, s);
    this.wr(out, n * nRows * 4, s);
    this.be(s).rmsNorm(this.p(out, s), this.p(x, s), this.pn(w, s), eps, n, nRows);
  }
  rope(x: Tensor, pos: Tensor, nTok: number, p: RopeParams): void {
    const s = this.on(this.shardOf(p.freqFactors, this.cur));
    const bytes = nTok * p.nHead * p.headDim * 4;
    this.rd(pos, ropeStreams(p.mode) * nTok * 4, s);
    this.rd(x, bytes, s);
    this.wr(x, bytes, s);
    this.be(s).rope(this.p(x, s), this.p(pos, s), nTok, this.ropeOn(p, s));
  }

  /** The params with shard `s`'s freq factors (cached per params object: no allocation per op). */
  private readonly ropeParams = new WeakMap<RopeParams, RopeParams>();
  private ropeOn(p: RopeParams, s: number): RopeParams {
    if (!p.freqFactors) return p;
    let v = this.ropeParams.get(p);
    if (!v) {
      v = { ...p, freqFactors: this.p(p.freqFactors, s) };
      this.ropeParams.set(p, v);
    }
    return v;
  }
  softmax(out: Tensor, x: Tensor, n: number, nRows: number, scale: number): void {
    const s = this.on(this.cur);
    this.rd(x, n * nRows * 4, s);
    this.wr(out, n * nRows * 4, s);
    this.be(s).softmax(this.p(out, s), this.p(x, s), n, nRows, scale);
  }
  swiglu(out: Tensor, gate: Tensor, up: Tensor, n: number): void {
    const s = this.on(this.cur);
    this.rd(gate, n * 4, s);
    this.rd(up, n * 4, s);
    this.wr(out, n * 4, s);
    this.be(s).swiglu(this.p(out, s), this.p(gate, s), this.p(up, s), n);
  }
  geglu(out: Tensor, gate: Tensor, up: Tensor, n: number): void {
    const s = this.on(this.cur);
    this.rd(gate, n * 4, s);
    this.rd(up, n * 4, s);
    this.wr(out, n * 4, s);
    this.be(s).geglu(this.p(out, s), this.p(gate, s), this.p(up, s), n);
  }
  silu(out: Tensor, x: Tensor, n: number): void {
    const s = this.on(this.cur);
    this.rd(x, n * 4, s);
    this.wr(out, n * 4, s);
    this.be(s).silu(this.p(out, s), this.p(x, s), n);
  }
  gelu(out: Tensor, x: Tensor, n: number): void {
    const s = this.on(this.cur);
    this.rd(x, n * 4, s);
    this.wr(out, n * 4, s);
    this.be(s).gelu(this.p(out, s), this.p(x, s), n);
  }
  layerNorm(out: Tensor, x: Tensor, w: Tensor | null, b: Tensor | null, eps: number, n: number, nRows: number): void {
    const s = this.on(this.shardOf(w, this.shardOf(b, this.cur)));
    if (w) this.rd(w, n * 4, s);
    if (b) this.rd(b, n * 4, s);
    this.rd(x, n * nRows * 4, s);
    this.wr(out, n * nRows * 4, s);
    this.be(s).layerNorm(this.p(out, s), this.p(x, s), this.pn(w, s), this.pn(b, s), eps, n, nRows);
  }
  softcap(out: Tensor, x: Tensor, cap: number, n: number): void {
    const s = this.on(this.cur);
    this.rd(x, n * 4, s);
    this.wr(out, n * 4, s);
    this.be(s).softcap(this.p(out, s), this.p(x, s), cap, n);
  }
  add(out: Tensor, a: Tensor, b: Tensor, n: number, bLen = 0): void {
    const s = this.on(this.shardOf(b, this.shardOf(a, this.cur)));
    this.rd(a, n * 4, s);
    this.rd(b, (bLen || n) * 4, s);
    this.wr(out, n * 4, s);
    this.be(s).add(this.p(out, s), this.p(a, s), this.p(b, s), n, bLen);
  }
  mul(out: Tensor, a: Tensor, b: Tensor, n: number, bLen = 0): void {
    const s = this.on(this.shardOf(b, this.shardOf(a, this.cur)));
    this.rd(a, n * 4, s);
    this.rd(b, (bLen || n) * 4, s);
    this.wr(out, n * 4, s);
    this.be(s).mul(this.p(out, s), this.p(a, s), this.p(b, s), n, bLen);
  }
  scale(out: Tensor, x: Tensor, sc: number, n: number): void {
    const s = this.on(this.cur);
    this.rd(x, n * 4, s);
    this.wr(out, n * 4, s);
    this.be(s).scale(this.p(out, s), this.p(x, s), sc, n);
  }
  /** Runs on the shard of the page table's home: the pages were allocated there (same `group`). */
  kvStore(src: Tensor, nTok: number, rowLen: number, pos: Tensor, pages: Tensor, pageSize: number, kvType: GgmlType): void {
    const s = this.on(this.pagesShard(pages));
    this.rd(src, nTok * rowLen * 4, s);
    this.rd(pos, nTok * 4, s);
    this.rd(pages, pages.byteSize, s);
    this.be(s).kvStore(this.p(src, s), nTok, rowLen, this.p(pos, s), this.p(pages, s), pageSize, kvType);
  }
  attention(out: Tensor, q: Tensor, qPos: Tensor, nTok: number, nKv: number, kv: KvLayerView, p: AttentionParams): void {
    const s = this.on(this.pagesShard(kv.kPages));
    const bytes = nTok * p.nHead * p.headDim * 4;
    this.rd(q, bytes, s);
    this.rd(qPos, nTok * 4, s);
    this.rd(kv.kPages, kv.kPages.byteSize, s);
    this.rd(kv.vPages, kv.vPages.byteSize, s);
    this.wr(out, bytes, s);
    const view = this.viewOn(kv, s);
    this.be(s).attention(this.p(out, s), this.p(q, s), this.p(qPos, s), nTok, nKv, view, p);
  }

  private pagesShard(pages: Tensor): number {
    const x = st(pages);
    return x.shard >= 0 ? x.shard : x.buf!.home;
  }

  /** The layer view with page tables of shard `s` (cached per view object: no allocation per op). */
  private readonly kvViews = new WeakMap<KvLayerView, KvLayerView>();
  private viewOn(kv: KvLayerView, s: number): KvLayerView {
    let v = this.kvViews.get(kv);
    if (!v) {
      v = { kPages: this.p(kv.kPages, s), vPages: this.p(kv.vPages, s), pageSize: kv.pageSize, kvType: kv.kvType };
      this.kvViews.set(kv, v);
    }
    return v;
  }

  /** Copies the latest bytes of host-visible buffer `b` to its home shard, now (nothing recorded is pending). */
  private syncHome(b: RepBuffer): void {
    this.copyBuf = b;
    b.validity.read(0, b.validity.size, b.home, this.onCopy);
    this.execute();
  }

  compute(): void {
    for (let i = 0; i < this.hostBufs.length; i++) {
      const b = this.hostBufs[i];
      this.copyBuf = b;
      b.validity.read(0, b.validity.size, b.home, this.onCopy);
    }
    this.execute();
  }

  private execute(): void {
    this.closeRun();
    try {
      const w = this.steps;
      for (let i = 0; i < this.nSteps; i++) {
        const o = i * STEP_WORDS;
        if (w[o] === STEP_RUN) this.shards[w[o + 1]].computeRange(w[o + 2], w[o + 3]);
        else this.copy(w[o + 1], w[o + 2], w[o + 3], w[o + 4], w[o + 5]);
      }
    } finally {
      for (let i = 0; i < this.shards.length; i++) this.shards[i].discard();
      this.nSteps = 0;
      this.fresh = true;
    }
  }

  /** Copies `bytes` (a multiple of 4, 4-aligned) from shard `from`'s memory at `src` to shard `to`'s at `dst`. */
  private copy(from: number, to: number, src: number, dst: number, bytes: number): void {
    const a = this.view(from);
    const b = this.view(to);
    const s = src >>> 2; // unsigned: addresses reach 4 GiB
    const d = dst >>> 2;
    const n = bytes / 4;
    for (let i = 0; i < n; i++) b[d + i] = a[s + i];
  }

  private view(s: number): Int32Array {
    const buf = this.shards[s].core.memory.buffer;
    if (this.views[s].byteLength !== buf.byteLength) this.views[s] = new Int32Array(buf);
    return this.views[s];
  }

  async close(): Promise<void> {
    await Promise.all(this.shards.map((s) => s.close()));
  }
}
