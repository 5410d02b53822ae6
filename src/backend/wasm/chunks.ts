/**
 * Tuned MATMUL chunk sizes (ABI.md MATMUL word 9, `chunk_rows`): rows per dynamically scheduled chunk,
 * per weight shape and phase (decode: one token; prefill: more). The autotuner (src/hardware/tune.ts)
 * fills it at load; `WasmBackend.matmul` reads it for every command without allocating (numeric keys).
 * A missing entry is 0: the core's default (about 16 chunks per thread). Results never depend on it.
 */

/** One tuned choice: rows per chunk for matmuls of a weight `[nOut][nIn]` of type `wtype`. */
export interface ChunkChoice {
  wtype: number;
  nIn: number;
  nOut: number;
  phase: 'decode' | 'prefill';
  /** Rows per chunk (rounded up to a multiple of 8 by the core); 0: the default. */
  chunkRows: number;
}

/** A numeric key, exact for n_in < 2^17, n_out < 2^20 and type ids < 64 (far below 2^53). */
function key(wtype: number, nIn: number, nOut: number, prefill: boolean): number {
  return ((nOut * 131072 + nIn) * 64 + wtype) * 2 + (prefill ? 1 : 0);
}

export class MatmulChunks {
  private readonly map = new Map<number, number>();

  /** Rows per chunk for this matmul (0: default). Called per recorded MATMUL: no allocation. */
  get(wtype: number, nIn: number, nOut: number, nTok: number): number {
    return this.map.get(key(wtype, nIn, nOut, nTok > 1)) ?? 0;
  }

  set(c: ChunkChoice): void {
    const k = key(c.wtype, c.nIn, c.nOut, c.phase === 'prefill');
    if (c.chunkRows > 0) this.map.set(k, c.chunkRows >>> 0);
    else this.map.delete(k);
  }

  clear(): void {
    this.map.clear();
  }

  get size(): number {
    return this.map.size;
  }
}
