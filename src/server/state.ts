/** What every route shares: configuration, the model store, loaded models, metrics, and the admission bound. */
import { HttpError } from './errors.ts';
import type { ModelLoader } from './loader.ts';
import type { Metrics } from './metrics.ts';
import type { ModelStore } from './store.ts';
import type { ServerConfig } from './config.ts';

/** Counts requests that use a model: `numParallel` run, `maxQueue` more wait, the next one gets 503. */
export class Admission {
  inflight = 0;
  constructor(
    private readonly numParallel: number,
    private readonly maxQueue: number,
  ) {}

  /** Waiting requests (beyond the ones being served). */
  get queued(): number {
    return Math.max(0, this.inflight - this.numParallel);
  }

  /** @returns a release function (idempotent). @throws HttpError 503 past the bound. */
  enter(): () => void {
    if (this.inflight >= this.numParallel + this.maxQueue) {
      throw new HttpError(503, 'queue_full', `server busy: ${this.inflight} requests in progress or queued (TESSERA_NUM_PARALLEL=${this.numParallel}, TESSERA_MAX_QUEUE=${this.maxQueue}); retry later`);
    }
    this.inflight++;
    let done = false;
    return () => {
      if (!done) this.inflight--;
      done = true;
    };
  }
}

export interface ServerState {
  config: ServerConfig;
  store: ModelStore;
  loader: ModelLoader;
  metrics: Metrics;
  admission: Admission;
}
