/**
 * Loaded models: load on first use, keep_alive expiry, a cap on loaded models and a memory budget with
 * the least recently used idle model unloaded first, and a check that a requested num_ctx fits.
 * (The scheduler issue replaces this with slots and continuous batching; the interface stays
 * `acquire(name, …) → lease`, `release(lease)`.)
 */
import type { Storage } from '../storage/types.ts';
import { stat } from 'node:fs/promises';
import { createEngine, type Engine } from '../engine.ts';
import type { BackendRequest } from '../hardware/select.ts';
import { TesseraError } from '../errors.ts';
import { openGguf } from '../gguf/reader.ts';
import { HttpError } from './errors.ts';
import type { ModelStore } from './store.ts';

/** wasm32 linear memory ends at 4 GiB: weights + KV + activations must fit in it. */
const WASM_MEMORY_LIMIT = 4 * 2 ** 30;
/** Default context when a request does not set num_ctx: min(this, the model's training context). */
const DEFAULT_NUM_CTX = 2048;

export interface LoaderOptions {
  threads?: number;
  /** Generation slots per loaded model (continuous batching; the engine's numParallel). */
  numParallel?: number;
  keepAliveMs: number;
  maxLoadedModels: number;
  /** Bytes; 0 = unlimited. */
  memoryBudget: number;
  /** The KV prefix cache's storage (opened once, shared by every model), or null for none. Also keeps tuning results. */
  kvStorage?: () => Promise<Storage | null>;
  /** Backend for every model, overridden per model name. */
  backend?: BackendRequest;
  modelBackends?: Record<string, BackendRequest>;
  tune?: boolean;
  tuneBudgetMs?: number;
}

export interface LoadedModel {
  name: string;
  path: string;
  engine: Engine;
  numCtx: number;
  /** ms since epoch when it unloads (Infinity: never). */
  expiresAt: number;
  lastUsed: number;
  /** Requests using it now. */
  active: number;
  loadNs: number;
  timer?: ReturnType<typeof setTimeout>;
}

export interface Lease {
  model: LoadedModel;
  /** Nanoseconds spent loading for this request (0 when it was loaded already). */
  loadNs: number;
}

interface FileFacts {
  nCtxTrain: number;
  /** K+V bytes per context token at f16. */
  kvBytesPerToken: number;
  fileBytes: number;
}

export class ContextTooLargeError extends HttpError {
  constructor(message: string) {
    super(400, 'num_ctx_too_large', message);
  }
}

export class ModelLoader {
  private readonly loaded = new Map<string, LoadedModel>();
  private readonly loading = new Map<string, Promise<LoadedModel>>();
  private readonly facts = new Map<string, FileFacts>();

  constructor(
    private readonly store: ModelStore,
    private readonly opts: LoaderOptions,
  ) {}

  list(): LoadedModel[] {
    return [...this.loaded.values()];
  }

  private async factsOf(path: string): Promise<FileFacts> {
    let f = this.facts.get(path);
    if (f) return f;
    const file = await openGguf(path);
    const arch = String(file.metadata.get('general.architecture'));
    const num = (k: string, d: number) => Number(file.metadata.get(`${arch}.${k}`) ?? d);
    const nEmbd = num('embedding_length', 0);
    const nHead = num('attention.head_count', 1) || 1;
    const nHeadKv = num('attention.head_count_kv', nHead) || nHead;
    const headDim = num('attention.key_length', Math.floor(nEmbd / nHead));
    const nLayer = num('block_count', 0);
    const { size } = await stat(path);
    f = { nCtxTrain: num('context_length', DEFAULT_NUM_CTX), kvBytesPerToken: 2 * nLayer * nHeadKv * headDim * 2, fileBytes: size };
    this.facts.set(path, f);
    return f;
  }

  /**
   * The context length a request gets: its num_ctx, or min(2048, training context).
   * @throws ContextTooLargeError when num_ctx exceeds the training context or what memory allows.
   */
  private async numCtxFor(path: string, requested: number | undefined): Promise<number> {
    const f = await this.factsOf(path);
    if (requested === undefined) return Math.min(DEFAULT_NUM_CTX, f.nCtxTrain);
    if (requested > f.nCtxTrain) throw new ContextTooLargeError(`num_ctx ${requested} exceeds the model's context length ${f.nCtxTrain}`);
    const need = f.fileBytes + requested * f.kvBytesPerToken;
    if (need > WASM_MEMORY_LIMIT) {
      throw new ContextTooLargeError(`num_ctx ${requested} does not fit: weights ${f.fileBytes} B + KV cache ${requested * f.kvBytesPerToken} B exceed the 4 GiB of WASM memory`);
    }
    if (this.opts.memoryBudget && need > this.opts.memoryBudget) {
      throw new ContextTooLargeError(`num_ctx ${requested} does not fit: it needs about ${need} B, the memory budget (TESSERA_MEMORY_BUDGET) is ${this.opts.memoryBudget} B`);
    }
    return requested;
  }

  /**
   * The engine for `name`, loading it (or reloading it with another num_ctx) when needed. Hold the lease
   * while generating and `release` it afterwards, with the request's keep_alive.
   */
  async acquire(name: string, numCtx?: number): Promise<Lease> {
    const entry = await this.store.get(name);
    const ctx = await this.numCtxFor(entry.path, numCtx);
    const key = entry.name;
    let m = this.loaded.get(key);
    if (m && numCtx !== undefined && m.numCtx !== ctx) {
      await this.unload(key);
      m = undefined;
    }
    let loadNs = 0;
    if (!m) {
      let p = this.loading.get(key);
      if (!p) {
        p = this.load(key, entry.path, ctx, entry.projector);
        this.loading.set(key, p);
        p.finally(() => this.loading.delete(key)).catch(() => {});
        m = await p;
        loadNs = m.loadNs;
      } else {
        m = await p;
      }
    }
    if (m.timer) clearTimeout(m.timer);
    m.timer = undefined;
    m.active++;
    m.lastUsed = Date.now();
    return { model: m, loadNs };
  }

  /** Ends a request; the model unloads after `keepAliveMs` (default: the server's) without another one. */
  release(lease: Lease, keepAliveMs = this.opts.keepAliveMs): void {
    const m = lease.model;
    m.active = Math.max(0, m.active - 1);
    m.lastUsed = Date.now();
    this.schedule(m, keepAliveMs);
  }

  private schedule(m: LoadedModel, keepAliveMs: number): void {
    if (m.timer) clearTimeout(m.timer);
    m.timer = undefined;
    m.expiresAt = Date.now() + keepAliveMs;
    if (m.active > 0 || keepAliveMs === Infinity) return;
    if (keepAliveMs <= 0) {
      void this.unload(m.name);
      return;
    }
    m.timer = setTimeout(() => void this.unload(m.name), Math.min(keepAliveMs, 2 ** 31 - 1));
    (m.timer as { unref?: () => void }).unref?.();
  }

  /** Loads a model without a request (Ollama: generate with an empty prompt), applying keep_alive. */
  async preload(name: string, keepAliveMs?: number, numCtx?: number): Promise<number> {
    const lease = await this.acquire(name, numCtx);
    this.release(lease, keepAliveMs);
    return lease.loadNs;
  }

  private async load(name: string, path: string, numCtx: number, projector?: string): Promise<LoadedModel> {
    await this.makeRoom(path, numCtx);
    const t0 = performance.now();
    const kvStorage = (await this.opts.kvStorage?.()) ?? undefined;
    const mb = this.opts.modelBackends ?? {};
    const backend = mb[name] ?? mb[name.replace(/:latest$/, '')] ?? this.opts.backend ?? 'auto'; // 'tiny' names 'tiny:latest'
    const tune = this.opts.tune === false ? false : { storage: kvStorage, budgetMs: this.opts.tuneBudgetMs };
    const engine = await createEngine({ model: path, threads: this.opts.threads, numCtx, kvStorage, backend, tune, numParallel: this.opts.numParallel, ...(projector ? { projector, imageCache: { storage: kvStorage ?? null, maxTiles: imageMaxTiles() } } : {}) });
    const m: LoadedModel = {
      name,
      path,
      engine,
      numCtx,
      expiresAt: Infinity,
      lastUsed: Date.now(),
      active: 0,
      loadNs: Math.round((performance.now() - t0) * 1e6),
    };
    this.loaded.set(name, m);
    return m;
  }

  /** Unloads least recently used idle models until the new one fits the count and the budget. */
  private async makeRoom(path: string, numCtx: number): Promise<void> {
    const f = await this.factsOf(path);
    const need = f.fileBytes + numCtx * f.kvBytesPerToken;
    if (this.opts.memoryBudget > 0 && need > this.opts.memoryBudget) {
      throw new HttpError(503, 'over_budget', `the model needs about ${need} B (weights + KV cache for num_ctx ${numCtx}), more than TESSERA_MEMORY_BUDGET=${this.opts.memoryBudget} B`);
    }
    const used = () => this.list().reduce((s, m) => s + m.engine.info.memoryBytes, 0);
    const over = () => this.loaded.size >= this.opts.maxLoadedModels || (this.opts.memoryBudget > 0 && used() + need > this.opts.memoryBudget);
    while (over()) {
      const idle = this.list().filter((m) => m.active === 0).sort((a, b) => a.lastUsed - b.lastUsed);
      if (!idle.length) {
        throw new HttpError(503, 'server_busy', `cannot load the model: ${this.loaded.size} model(s) are loaded and busy (TESSERA_MAX_LOADED_MODELS=${this.opts.maxLoadedModels}, TESSERA_MEMORY_BUDGET=${this.opts.memoryBudget || 'unlimited'})`);
      }
      await this.unload(idle[0].name);
    }
  }

  async unload(name: string): Promise<void> {
    const m = this.loaded.get(name);
    if (!m) return;
    this.loaded.delete(name);
    if (m.timer) clearTimeout(m.timer);
    await m.engine.close().catch((e: unknown) => {
      if (!(e instanceof TesseraError)) throw e;
    });
  }

  async close(): Promise<void> {
    await Promise.all([...this.loading.values()].map((p) => p.catch(() => null)));
    for (const name of [...this.loaded.keys()]) await this.unload(name);
  }
}

/** TESSERA_IMAGE_MAX_TILES: blocks a large image is split into at most (default 1: resized to one tile, as Ollama). */
function imageMaxTiles(): number {
  const n = Number(process.env.TESSERA_IMAGE_MAX_TILES);
  return Number.isInteger(n) && n >= 1 ? Math.min(n, 64) : 1;
}
