/**
 * A pool of KV pages of one K/V type pair in backend memory (the hot tier).
 *
 * A page holds `pageSize` consecutive positions of one sequence for every layer: per layer one K
 * region of `kPageBytes` and one V region of `vPageBytes` bytes (ABI.md KV_STORE layout:
 * `[pageSize][kvRowBytes(type, n_head_kv·head_dim)]`). Page `p`'s regions are at the handles
 * `kAddr[il·nPages + p]` / `vAddr[il·nPages + p]`.
 *
 * The pool only counts references and hands out free pages; which pages are cached, shared or
 * evicted is the manager's business (manager.ts).
 */
import type { Backend } from '../backend/backend.ts';
import { TesseraError } from '../errors.ts';
import { kvRowBytes, type KvTypes } from './kv-type.ts';

export class KvPageCopyUnsupportedError extends TesseraError {
  constructor(backend: string) {
    super('kv_page_copy_unsupported', `backend ${backend} cannot copy KV pages to the host (no pageView)`);
  }
}

export interface KvShape {
  nLayer: number;
  nHeadKv: number;
  headDim: number;
}

/** Bytes of one page over all layers, K and V. */
export function pageBytesOf(shape: KvShape, types: KvTypes, pageSize: number): number {
  const n = shape.nHeadKv * shape.headDim;
  return shape.nLayer * pageSize * (kvRowBytes(types.k, n) + kvRowBytes(types.v, n));
}

export class PagePool {
  readonly nPages: number;
  readonly kPageBytes: number;
  readonly vPageBytes: number;
  /** Bytes of one page over all layers, K and V: what a page costs in any tier. */
  readonly pageBytes: number;
  /** u32 [nLayer][nPages]: backend handles of each page's K and V regions. */
  readonly kAddr: Uint32Array;
  readonly vAddr: Uint32Array;
  /** i32 [nPages]: sequences (and tail caches) holding each page. */
  readonly refs: Int32Array;
  /** Free page ids, a stack: free[0..nFree). */
  private readonly free: Int32Array;
  private nFree: number;

  constructor(
    private readonly be: Backend,
    readonly shape: KvShape,
    readonly types: KvTypes,
    readonly pageSize: number,
    nPages: number,
  ) {
    const n = shape.nHeadKv * shape.headDim;
    this.nPages = nPages;
    this.kPageBytes = pageSize * kvRowBytes(types.k, n);
    this.vPageBytes = pageSize * kvRowBytes(types.v, n);
    this.pageBytes = shape.nLayer * (this.kPageBytes + this.vPageBytes);
    this.kAddr = new Uint32Array(shape.nLayer * nPages);
    this.vAddr = new Uint32Array(shape.nLayer * nPages);
    for (let il = 0; il < shape.nLayer; il++) {
      be.group?.(il); // a sharded backend places layer il's pages with its weights
      this.kAddr.set(be.allocPages(nPages, this.kPageBytes), il * nPages);
      this.vAddr.set(be.allocPages(nPages, this.vPageBytes), il * nPages);
    }
    this.refs = new Int32Array(nPages);
    this.free = new Int32Array(nPages);
    // Lowest ids on top of the stack, so a fresh pool hands out 0, 1, 2, ...
    for (let i = 0; i < nPages; i++) this.free[i] = nPages - 1 - i;
    this.nFree = nPages;
  }

  get freePages(): number {
    return this.nFree;
  }

  /** A free page id with refs 0, or −1 when none is free. */
  take(): number {
    return this.nFree > 0 ? this.free[--this.nFree] : -1;
  }

  /** Returns a page (refs must be 0) to the free list. */
  give(p: number): void {
    if (this.refs[p] !== 0) throw new Error(`KV page ${p} returned with ${this.refs[p]} references`);
    this.free[this.nFree++] = p;
  }

  /** Copies page `p` (all layers, K then V) into `dst` (pageBytes bytes: [K layer 0..n−1][V layer 0..n−1]). */
  copyOut(p: number, dst: Uint8Array): void {
    const view = this.view();
    const { nLayer } = this.shape;
    let o = 0;
    for (let il = 0; il < nLayer; il++, o += this.kPageBytes) dst.set(view(this.kAddr[il * this.nPages + p], this.kPageBytes, il), o);
    for (let il = 0; il < nLayer; il++, o += this.vPageBytes) dst.set(view(this.vAddr[il * this.nPages + p], this.vPageBytes, il), o);
  }

  /** Copies `src` (the layout of copyOut) into page `p`. */
  copyIn(p: number, src: Uint8Array): void {
    const view = this.view();
    const { nLayer } = this.shape;
    let o = 0;
    for (let il = 0; il < nLayer; il++, o += this.kPageBytes) view(this.kAddr[il * this.nPages + p], this.kPageBytes, il).set(src.subarray(o, o + this.kPageBytes));
    for (let il = 0; il < nLayer; il++, o += this.vPageBytes) view(this.vAddr[il * this.nPages + p], this.vPageBytes, il).set(src.subarray(o, o + this.vPageBytes));
  }

  /** Copies the first `nTok` positions of page `from` into page `to` (copy on write of a shared partial page). */
  copyPage(from: number, to: number, nTok: number): void {
    const kRow = this.kPageBytes / this.pageSize;
    const vRow = this.vPageBytes / this.pageSize;
    const gpu = this.be.copyPageBytes?.bind(this.be);
    if (gpu) {
      // backends without host-visible pages (webgpu) record the copy, run in order before the next forward
      for (let il = 0; il < this.shape.nLayer; il++) {
        const i0 = il * this.nPages;
        gpu(this.kAddr[i0 + from], this.kAddr[i0 + to], nTok * kRow);
        gpu(this.vAddr[i0 + from], this.vAddr[i0 + to], nTok * vRow);
      }
      return;
    }
    const view = this.view();
    for (let il = 0; il < this.shape.nLayer; il++) {
      const i0 = il * this.nPages;
      view(this.kAddr[i0 + to], nTok * kRow, il).set(view(this.kAddr[i0 + from], nTok * kRow, il));
      view(this.vAddr[i0 + to], nTok * vRow, il).set(view(this.vAddr[i0 + from], nTok * vRow, il));
    }
  }

  private view(): (addr: number, bytes: number, layer: number) => Uint8Array {
    const be = this.be;
    if (!be.pageView) throw new KvPageCopyUnsupportedError(be.name);
    return (addr, bytes, layer) => be.pageView!(addr, bytes, layer);
  }
}
