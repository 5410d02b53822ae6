/**
 * KV cache for one sequence: per layer, K and V live in fixed-size pages of `pageSize` tokens.
 *
 * Page layout (ABI.md KV_STORE): `[pageSize][nHeadKv·headDim]` elements of `kvType`.
 * The page tables are u32 tensors the attention kernel reads in place (no gather copy).
 *
 * Model side: `layer(il)` gives the page tables of a layer.
 * Manager side: `capacity`, and the half-open range of filled positions is tracked by the engine.
 */
import type { Backend, KvLayerView, Tensor } from '../backend/backend.ts';
import { TesseraError } from '../errors.ts';
import { GgmlType } from '../gguf/types.ts';

export class KvCacheFullError extends TesseraError {
  constructor(need: number, capacity: number) {
    super('kv_cache_full', `the context needs ${need} positions but the KV cache holds ${capacity} (raise num_ctx)`);
  }
}

export interface KvCacheSpec {
  nLayer: number;
  nHeadKv: number;
  headDim: number;
  nCtx: number;
  pageSize?: number; // tokens per page, default 64
  kvType?: GgmlType; // F16 (default) or F32
}

export class KvCache {
  readonly capacity: number;
  readonly pageSize: number;
  readonly kvType: GgmlType;
  readonly bytes: number;
  private readonly layers: KvLayerView[] = [];

  constructor(be: Backend, spec: KvCacheSpec) {
    this.pageSize = spec.pageSize ?? 64;
    this.kvType = spec.kvType ?? GgmlType.F16;
    const nPages = Math.ceil(spec.nCtx / this.pageSize);
    this.capacity = nPages * this.pageSize;
    const elem = this.kvType === GgmlType.F16 ? 2 : 4;
    const bytesPerPage = this.pageSize * spec.nHeadKv * spec.headDim * elem;
    this.bytes = 2 * spec.nLayer * nPages * bytesPerPage;
    for (let il = 0; il < spec.nLayer; il++) {
      be.group?.(il);
      const kPages = this.table(be, be.allocPages(nPages, bytesPerPage));
      const vPages = this.table(be, be.allocPages(nPages, bytesPerPage));
      this.layers.push({ kPages, vPages, pageSize: this.pageSize, kvType: this.kvType });
    }
  }

  private table(be: Backend, pages: number[]): Tensor {
    const t = be.buffer(GgmlType.I32, [pages.length]);
    be.u32(t).set(pages);
    return t;
  }

  layer(il: number): KvLayerView {
    return this.layers[il];
  }

  /** Throws KvCacheFullError unless `n` positions fit. */
  ensure(n: number): void {
    if (n > this.capacity) throw new KvCacheFullError(n, this.capacity);
  }
}
