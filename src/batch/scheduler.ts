/**
 * Continuous batching (as llama.cpp's server and vLLM): the generations running on one engine share its model.
 *
 * - A generation holds a `Slot` while it runs (at most `nSlots` at once; more wait in FIFO order for one). The
 *   slot owns the generation's KV table set (KvCache `tableSet`), so its page tables stay bound while others run.
 * - A generation asks for a step: "evaluate tokens[from, from + len) of my sequence" (a prompt chunk, or the one
 *   token it sampled). The scheduler gathers the steps asked for and runs them as one forward (`Model.forwardBatch`):
 *   decode steps first, then prompt chunks, within the model's batch rows (`maxTokens`, num_batch) and sequences
 *   (`maxSeqs`). A step may take fewer tokens than asked (a prompt chunk cut to the rows left); it resolves with
 *   the count taken, and the logits of its last row are in `slot.logits`.
 * - A batch runs on the next macrotask after a step is asked for (setImmediate): every generation whose consumer
 *   pulls through promises alone has asked by then. Generations still running that have not asked (a consumer
 *   that goes through I/O, e.g. an HTTP stream's write) are waited for a little: at most 5% of the last forward's
 *   time, and 5 ms; a slower consumer joins a later batch and never holds the others up longer. A generation that
 *   has asked for its last step (`slot.done`: its last token is out, it is ending) is not waited for.
 * - KV pages are shared by all slots. A step whose pages cannot be had waits for pages to come free (another
 *   generation ends); when every sequence holding pages is waiting so, the newest fails with KvCacheFullError
 *   (a lone sequence that does not fit fails at once).
 * - The model is used under the engine's lock (`lock`): one batch at a time, and exclusive work (embed, evaluate,
 *   bench, close) runs between batches.
 * - A model without `forwardBatch` (or `maxSeqs` 1) runs one sequence per forward: generations interleave by step.
 * - Shared prefixes: a generation whose prompt starts with at least one full KV page of the prompt of a generation
 *   that began before it and is still evaluating its prompt waits (`awaitSharedPrefill`) until that prompt is in
 *   the cache, then begins on its pages (shared by reference count) instead of computing them a second time.
 */
import { KvCacheFullError } from '../kv/cache.ts';
import type { KvManager, KvSequence } from '../kv/manager.ts';
import type { Batch, Model } from '../model/model.ts';

export class Slot {
  /** f32 [n_vocab]: the logits of this slot's last evaluated row. */
  readonly logits: Float32Array;
  /** i32 [1]: the token a decode step feeds (no array per token). */
  readonly token = new Int32Array(1);
  /** The sequence running here (null: free, or not begun yet). */
  seq: KvSequence | null = null;
  // The step asked for (valid while `asked`).
  asked = false;
  /** The generation asks for no more steps (its last token is out): batches do not wait for it. */
  done = false;
  /** Waiting for KV pages; `full` is the error it fails with when it cannot wait. */
  blocked = false;
  full: KvCacheFullError | null = null;
  tokens: ArrayLike<number> = this.token;
  from = 0;
  len = 0;
  resolve: (n: number) => void = () => {};
  reject: (e: unknown) => void = () => {};
  /** While evaluating its prompt: the prompt, the order it began in, and who waits for the end of it. */
  prompt: ArrayLike<number> | null = null;
  ticket = 0;
  private prefillWaiters: (() => void)[] = [];
  /** Marks the start of the prompt's evaluation (before the KV manager's begin). */
  startPrefill(prompt: ArrayLike<number>, ticket: number): void {
    this.prompt = prompt;
    this.ticket = ticket;
  }
  /** The prompt is in the cache (or the generation ended): wakes those waiting to share it. */
  endPrefill(): void {
    this.prompt = null;
    for (const w of this.prefillWaiters.splice(0)) w();
  }
  whenPrefilled(): Promise<void> {
    return this.prompt ? new Promise((r) => this.prefillWaiters.push(r)) : Promise.resolve();
  }
  constructor(
    readonly index: number,
    /** The KvCache table set of this slot's sequence. */
    readonly tableSet: number,
    nVocab: number,
  ) {
    this.logits = new Float32Array(nVocab);
  }
}

export interface SchedulerStats {
  slots: number;
  /** Slots held by running generations. */
  active: number;
  /** Generations waiting for a slot. */
  queued: number;
  /** Forwards run, and the sequences and rows they carried (sums). */
  batches: number;
  batchSeqs: number;
  batchRows: number;
}

const later: (f: () => void) => void = typeof setImmediate === 'function' ? (f) => void setImmediate(f) : (f) => void setTimeout(f, 0);

export class BatchScheduler {
  readonly slots: Slot[];
  private readonly free: Slot[];
  private readonly waiters: { resolve: (s: Slot | null) => void; reject: (e: unknown) => void }[] = [];
  /** Sequences one forward takes. */
  readonly maxSeqs: number;
  private readonly batch: Batch;
  /** [maxSeqs]: the slots of the batch being built/run. */
  private readonly chosen: Slot[];
  /** [maxSeqs]: tokens each chosen slot's step takes. */
  private readonly taken: Int32Array;
  private scheduled = false;
  private closed = false;
  /** Milliseconds of the last forward (how long stragglers may be waited for). */
  private lastMs = 0;
  private tickets = 0;
  private readonly c = { batches: 0, batchSeqs: 0, batchRows: 0 };

  constructor(
    private readonly model: Model,
    private readonly kvm: KvManager,
    private readonly lock: () => Promise<() => void>,
    nSlots: number,
    nVocab: number,
    /** The error steps and waiting generations fail with after `close` (the engine's EngineClosedError). */
    private readonly closedError: () => Error,
  ) {
    const batched = typeof model.forwardBatch === 'function' && (model.maxSeqs ?? 1) > 1;
    this.maxSeqs = batched ? Math.min(model.maxSeqs!, nSlots) : 1;
    // Table set 0 is `forward`'s (exclusive work); slots use 1..n when the model batches, else all use 0.
    this.slots = Array.from({ length: nSlots }, (_, i) => new Slot(i, batched && kvm.cache.tableSets > nSlots ? i + 1 : 0, nVocab));
    if (batched && kvm.cache.tableSets <= nSlots) throw new RangeError(`BatchScheduler: ${nSlots} slots need ${nSlots + 1} KV table sets, the cache has ${kvm.cache.tableSets}`);
    this.free = this.slots.slice().reverse();
    const m = this.maxSeqs;
    this.batch = { nSeq: 0, rowStart: new Int32Array(m), rowCount: new Int32Array(m), nKv: new Int32Array(m), tableSet: new Int32Array(m) };
    this.chosen = new Array(m).fill(null);
    this.taken = new Int32Array(m);
  }

  /** Waits for a free slot (FIFO). Resolves null when `signal` aborts first. @throws closedError() */
  acquireSlot(signal?: AbortSignal): Promise<Slot | null> {
    if (this.closed) return Promise.reject(this.closedError());
    if (signal?.aborted) return Promise.resolve(null);
    const s = this.free.pop();
    if (s) return Promise.resolve(s);
    return new Promise((resolve, reject) => {
      const w = {
        resolve: (slot: Slot | null) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(slot);
        },
        reject: (e: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      const onAbort = () => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(null);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(w);
    });
  }

  /**
   * Marks `slot` as evaluating `prompt`, after waiting while a generation that began earlier evaluates a prompt that
   * shares at least `pageSize` leading tokens with it (so this one finds those pages in the cache). Call
   * `slot.endPrefill()` when the prompt is evaluated (releaseSlot does it too).
   */
  async awaitSharedPrefill(slot: Slot, prompt: ArrayLike<number>, pageSize: number, signal?: AbortSignal): Promise<void> {
    const ticket = ++this.tickets;
    for (;;) {
      if (signal?.aborted) break;
      const ahead = this.slots.find((s) => s !== slot && s.prompt && s.ticket < ticket && sharedPrefix(s.prompt, prompt, pageSize) >= pageSize);
      if (!ahead) break;
      await ahead.whenPrefilled();
    }
    slot.startPrefill(prompt, ticket);
  }

  /** Gives a slot back (its sequence released by the caller first); the next waiter gets it. */
  releaseSlot(slot: Slot): void {
    slot.endPrefill();
    if (slot.asked) {
      slot.asked = false;
      slot.reject(this.closedError());
    }
    slot.seq = null;
    slot.done = false;
    slot.blocked = false;
    const w = this.waiters.shift();
    if (w) w.resolve(slot);
    else this.free.push(slot);
    this.kick(); // pages may have come free for a blocked step
  }

  /**
   * Evaluates up to `len` tokens `tokens[from, …)` of `slot.seq` at its next positions (committed to the KV
   * manager), in the next batch. Resolves with the count taken (≥ 1); `slot.logits` then holds the last one's logits.
   */
  step(slot: Slot, tokens: ArrayLike<number>, from: number, len: number): Promise<number> {
    if (this.closed) return Promise.reject(this.closedError());
    if (!slot.seq) return Promise.reject(new RangeError('step: the slot has no sequence'));
    if (slot.asked) return Promise.reject(new RangeError('step: a step of this slot is pending'));
    return new Promise<number>((resolve, reject) => {
      slot.tokens = tokens;
      slot.from = from;
      slot.len = len;
      slot.resolve = resolve;
      slot.reject = reject;
      slot.blocked = false;
      slot.asked = true;
      this.kick();
    });
  }

  stats(): SchedulerStats {
    return { slots: this.slots.length, active: this.slots.length - this.free.length, queued: this.waiters.length, ...this.c };
  }

  /** Fails every pending step and waiting generation with closedError(); later calls fail the same way. */
  close(): void {
    this.closed = true;
    for (const s of this.slots) {
      if (s.asked) {
        s.asked = false;
        s.reject(this.closedError());
      }
    }
    for (const w of this.waiters.splice(0)) w.reject(this.closedError());
  }

  private kick(): void {
    if (this.scheduled || this.closed) return;
    if (!this.slots.some((s) => s.asked)) return;
    this.scheduled = true;
    later(() => void this.run());
  }

  /** Builds one batch from the steps asked for and runs it. */
  private async run(): Promise<void> {
    const budget = Math.min(5, this.lastMs * 0.05);
    for (const t0 = performance.now(); performance.now() - t0 < budget && this.slots.some((s) => s.seq && !s.asked && !s.done); ) {
      await new Promise<void>((r) => later(r));
    }
    let release: () => void;
    try {
      release = await this.lock();
    } catch (e) {
      this.scheduled = false;
      for (const s of this.slots) {
        if (s.asked) {
          s.asked = false;
          s.reject(e);
        }
      }
      return;
    }
    let n = 0;
    try {
      if (this.closed) return;
      n = this.build();
      if (n === 0) {
        this.unblock();
        return;
      }
      const m = this.model;
      const b = this.batch;
      const t0 = performance.now();
      if (this.maxSeqs > 1) await m.forwardBatch!(b);
      else await m.forward(b.rowCount[0], b.nKv[0], 1);
      this.lastMs = performance.now() - t0;
      const V = this.slots[0]?.logits.length ?? 0;
      let rows = 0;
      for (let j = 0; j < n; j++) {
        const s = this.chosen[j];
        const k = this.taken[j];
        rows += k;
        this.kvm.commit(s.seq!, s.tokens, s.from, k);
        s.logits.set(m.logits.subarray(j * V, (j + 1) * V));
      }
      this.c.batches++;
      this.c.batchSeqs += n;
      this.c.batchRows += rows;
      for (let j = 0; j < n; j++) {
        const s = this.chosen[j];
        s.asked = false;
        s.resolve(this.taken[j]);
      }
    } catch (e) {
      for (let j = 0; j < n; j++) {
        const s = this.chosen[j];
        if (s.asked) {
          s.asked = false;
          s.reject(e);
        }
      }
    } finally {
      for (let j = 0; j < n; j++) this.chosen[j] = null!;
      this.scheduled = false;
      release();
      if (!this.closed && this.slots.some((s) => s.asked && !s.blocked)) this.kick();
    }
  }

  /** Chooses the steps of the next batch (decode steps first, then prompt chunks) and writes its inputs. @returns sequences */
  private build(): number {
    const m = this.model;
    const b = this.batch;
    const toks = m.inputTokens;
    const pos = m.inputPositions;
    let cap = m.maxTokens;
    let n = 0;
    let rows = 0;
    for (let pass = 0; pass < 2; pass++) {
      for (const s of this.slots) {
        if (n >= this.maxSeqs || cap === 0) break;
        if (!s.asked || (pass === 0) !== (s.len === 1)) continue;
        const seq = s.seq!;
        const k = Math.min(s.len, cap);
        try {
          this.kvm.prepare(seq, k); // binds the sequence's table set and adds its pages
        } catch (e) {
          if (!(e instanceof KvCacheFullError) || seq.n + k > this.kvm.cache.capacity) {
            s.asked = false; // not a matter of pages (or more positions than a sequence holds): fail now
            s.reject(e);
            continue;
          }
          s.blocked = true; // waits for pages (unblock decides whether it can)
          s.full = e;
          continue;
        }
        s.blocked = false;
        for (let i = 0; i < k; i++) {
          toks[rows + i] = s.tokens[s.from + i];
          pos[rows + i] = seq.n + i;
        }
        b.rowStart[n] = rows;
        b.rowCount[n] = k;
        b.nKv[n] = seq.n + k;
        b.tableSet[n] = seq.tableSet;
        this.chosen[n] = s;
        this.taken[n] = k;
        n++;
        rows += k;
        cap -= k;
      }
    }
    b.nSeq = n;
    return n;
  }

  /**
   * Nothing could run: every step asked for waits for KV pages. When every sequence that holds pages is among
   * them, nothing will free any: the newest fails with KvCacheFullError (a lone sequence that cannot fit, at once).
   */
  private unblock(): void {
    const holders = this.slots.filter((s) => s.seq && !s.seq.released);
    const blocked = holders.filter((s) => s.asked && s.blocked);
    if (blocked.length === 0 || blocked.length < holders.length) return; // a running generation will free pages or ask again
    let newest = blocked[0];
    for (const s of blocked) if (s.seq!.id > newest.seq!.id) newest = s;
    newest.asked = false;
    newest.blocked = false;
    newest.reject(newest.full);
  }
}

/** Length of the common prefix of `a` and `b`, counted up to `atLeast` (enough to decide). */
function sharedPrefix(a: ArrayLike<number>, b: ArrayLike<number>, atLeast: number): number {
  const n = Math.min(a.length, b.length, atLeast);
  let i = 0;
  while (i < n && a[i] === b[i]) i++;
  return i;
}
