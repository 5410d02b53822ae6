/**
 * Autotuning of the WASM MATMUL's thread split: rows per dynamically scheduled chunk (ABI.md MATMUL
 * word 9), per weight shape and phase (decode: 1 token; prefill: a batch). On the first load of a model
 * shape on a machine, each candidate is timed on the model's own weights within a time budget, rounds
 * interleaved so that machine noise hits every candidate alike; a candidate replaces the default only when
 * its best round beats the default's by MIN_GAIN and it is faster than the default in MIN_WINS of the rounds. The winners are stored through the storage interface
 * under `tune/<hw fingerprint>/<kernel version>/<shape set>` and reused by later loads.
 * Results never depend on the choice (test/wasm/matmul-chunks.test.ts), only speed does.
 *
 * @example
 * const r = await tuneBackend(be, { storage, fingerprint: hw.fingerprint, maxTokens: 512 });
 * console.log(r.source, r.choices.filter((c) => c.chunkRows > 0));
 */
import { createHash } from 'node:crypto';
import type { Backend } from '../backend/backend.ts';
import { ABI_VERSION } from '../backend/wasm/abi.ts';
import { WasmBackend, WasmTensor } from '../backend/wasm/backend.ts';
import type { ChunkChoice } from '../backend/wasm/chunks.ts';
import { readCoreBytes, type CoreVariant } from '../backend/wasm/core.ts';
import { GgmlType } from '../gguf/types.ts';
import type { Storage, StoredValue } from '../storage/types.ts';

/** A candidate must beat the default's best time by this fraction to be chosen. */
export const MIN_GAIN = 0.03;
/** ...and be faster than the default in this fraction of the rounds (each round times every candidate once). */
export const MIN_WINS = 0.75;
/** Default time budget for measuring one model (all shapes, both phases). */
export const DEFAULT_BUDGET_MS = 2000;
/** Tokens of the prefill phase's timing runs (capped by the backend's batch). */
const PREFILL_TOKENS = 32;

export interface TunedShape extends ChunkChoice {
  /** Best ms per matmul with the default split, and with the chosen one (null: loaded from storage, or not measured before the deadline). */
  defaultMs: number | null;
  bestMs: number | null;
  /** Candidates timed (chunk rows; 0 = default) and rounds run. */
  candidates: number[];
  rounds: number;
}

export interface TuningResult {
  /** measured: timed now and stored; stored: reused; off: tuning disabled; untunable: nothing to tune (reason). */
  source: 'measured' | 'stored' | 'off' | 'untunable';
  reason: string;
  key: string | null;
  kernelVersion: string | null;
  budgetMs: number;
  elapsedMs: number;
  choices: TunedShape[];
}

export interface TuneOptions {
  /** Where winners are kept; null: measure each load, keep nothing. */
  storage: Storage | null;
  /** The hardware fingerprint (src/hardware/report.ts). */
  fingerprint: string;
  /** The backend's largest batch (its MATMUL scratch holds maxTokens·n_in·4 bytes). */
  maxTokens: number;
  budgetMs?: number;
  /** Which shapes and phases the model runs (default: all); e.g. the vocabulary projection only decodes. */
  include?: (shape: { wtype: number; nIn: number; nOut: number }, phase: 'decode' | 'prefill') => boolean;
  /** Measure even when a stored result exists (bench). */
  force?: boolean;
}

const kernelVersions = new Map<CoreVariant, Promise<string>>();

/** ABI version, variant and a hash of the module's bytes: a rebuilt core invalidates stored results. */
export function kernelVersion(variant: CoreVariant): Promise<string> {
  let v = kernelVersions.get(variant);
  if (!v) {
    v = readCoreBytes(variant).then((b) => `abi${ABI_VERSION}-${variant}-${createHash('sha256').update(b).digest('hex').slice(0, 12)}`);
    kernelVersions.set(variant, v);
  }
  return v;
}

/** The core's default rows per chunk (wasm/src/ops/matmul.rs `chunk_rows`). */
export function defaultChunkRows(nOut: number, nth: number): number {
  return Math.max(8, Math.ceil(Math.floor(nOut / (16 * nth)) / 8) * 8);
}
const effective = (rows: number, nOut: number, nth: number) => (rows === 0 ? defaultChunkRows(nOut, nth) : Math.ceil(Math.min(rows, nOut) / 8) * 8);

/**
 * Chunk sizes to time: powers of two 16..512 that leave at least 4 chunks per thread, distinct from the
 * default's. (No static split: one chunk per thread won micro-benchmarks of one matmul on the shared
 * 2-core machine but lost end to end in bench/tune.ts, where a descheduled thread holds up every barrier.)
 */
export function candidateChunks(nOut: number, nth: number): number[] {
  const most = Math.floor(nOut / (4 * nth));
  const seen = new Set<number>([effective(0, nOut, nth)]);
  const out = [0];
  for (const c of [16, 32, 64, 128, 256, 512]) {
    if (c > most) continue;
    const e = effective(c, nOut, nth);
    if (!seen.has(e)) {
      seen.add(e);
      out.push(c);
    }
  }
  return out;
}

function emptyResult(source: TuningResult['source'], reason: string, budgetMs: number): TuningResult {
  return { source, reason, key: null, kernelVersion: null, budgetMs, elapsedMs: 0, choices: [] };
}

/** Tunes (or reloads the tuning of) `be` for the weights it holds and applies the winners. Never throws on storage errors. */
export async function tuneBackend(be: Backend, opts: TuneOptions): Promise<TuningResult> {
  const budgetMs = opts.budgetMs ?? DEFAULT_BUDGET_MS;
  if (!(be instanceof WasmBackend)) return emptyResult('untunable', `backend ${be.name} has no tunable split`, budgetMs);
  if (be.nThreads < 2) return emptyResult('untunable', 'one thread: no split to tune', budgetMs);
  const t0 = performance.now();
  const shapes = [...be.matrixShapes.values()].map((w) => ({ w, wtype: w.type as number, nIn: w.dims[0], nOut: w.dims[1] }));
  const jobs: { w: (typeof shapes)[number]; phase: 'decode' | 'prefill' }[] = [];
  for (const s of shapes) for (const phase of ['decode', 'prefill'] as const) if (opts.include?.(s, phase) ?? true) jobs.push({ w: s, phase });
  if (jobs.length === 0) return emptyResult('untunable', 'no matmul shapes', budgetMs);
  const kv = await kernelVersion(be.variant);
  const sig = jobs.map((j) => `${j.w.wtype}:${j.w.nIn}:${j.w.nOut}:${j.phase}`).sort().join(',');
  const key = `tune/${opts.fingerprint}/${kv}/${createHash('sha256').update(sig).digest('hex').slice(0, 16)}-t${be.nThreads}`;

  if (opts.storage && !opts.force) {
    try {
      const stored = await opts.storage.get(key);
      const choices = stored ? decodeChoices(stored) : null;
      if (choices) {
        for (const c of choices) be.chunks.set(c);
        return { source: 'stored', reason: `reused ${key}`, key, kernelVersion: kv, budgetMs, elapsedMs: performance.now() - t0, choices };
      }
    } catch {
      /* unreadable storage: measure */
    }
  }

  const choices: TunedShape[] = [];
  const nTokPrefill = Math.max(2, Math.min(PREFILL_TOKENS, opts.maxTokens));
  const toks = (j: (typeof jobs)[number]) => (j.phase === 'prefill' ? nTokPrefill : 1);
  const xFloats = Math.max(...jobs.map((j) => toks(j) * j.w.nIn));
  const outFloats = Math.max(...jobs.map((j) => toks(j) * j.w.nOut));
  const core = be.core;
  const mark = core.mark();
  let tm0 = performance.now(); // the budget counts measuring only (not hashing the module, not the first wake-up)
  try {
    // Temporary (released below): x f32 [n_tok][n_in], out f32 [n_tok][n_out] of the largest job.
    const xPtr = core.alloc(xFloats * 4);
    const outPtr = core.alloc(outFloats * 4);
    const xs = core.f32(xPtr, xFloats);
    for (let i = 0; i < xs.length; i++) xs[i] = Math.sin(i * 0.37) * 0.5;
    // Budget per job by its work (n_in·n_out·n_tok), so the big matrices get their rounds.
    const work = jobs.map((j) => j.w.nIn * j.w.nOut * (j.phase === 'prefill' ? nTokPrefill : 1));
    const total = work.reduce((a, b) => a + b, 0);
    // Cheapest first: if the deadline cuts the run short, what is left is the big vocabulary projection (once per token).
    const order = jobs.map((_, i) => i).sort((a, b) => work[a] - work[b]);
    // One untimed matmul first: the pool's first wake-up after load can take longer than a small budget.
    {
      const j = jobs[order[0]];
      be.matmul(new WasmTensor(GgmlType.F32, [j.w.nOut, 1], j.w.nOut * 4, outPtr), j.w.w, new WasmTensor(GgmlType.F32, [j.w.nIn, 1], j.w.nIn * 4, xPtr), 1);
      be.compute();
      tm0 = performance.now();
    }
    for (const ji of order) {
      const j = jobs[ji];
      const nTok = j.phase === 'prefill' ? nTokPrefill : 1;
      const x = new WasmTensor(GgmlType.F32, [j.w.nIn, nTok], nTok * j.w.nIn * 4, xPtr);
      const out = new WasmTensor(GgmlType.F32, [j.w.nOut, nTok], nTok * j.w.nOut * 4, outPtr);
      const choice = (rows: number): ChunkChoice => ({ wtype: j.w.wtype, nIn: j.w.nIn, nOut: j.w.nOut, phase: j.phase, chunkRows: rows });
      const cands = candidateChunks(j.w.nOut, be.nThreads);
      const times: number[][] = cands.map(() => []);
      const slice = (budgetMs * work[ji]) / total;
      const start = performance.now();
      let rounds = 0;
      // Small matmuls are timed several to a run (a barrier between each, as in a forward), so the wake-up of the pool doesn't dominate.
      const reps = Math.max(1, Math.min(16, Math.round(4e6 / work[ji])));
      // Past the hard deadline (1.5 × budget, reached when many shapes need their minimum rounds), keep the default.
      if (choices.length > 0 && performance.now() - tm0 > 1.5 * budgetMs) {
        choices.push({ ...choice(0), defaultMs: null, bestMs: null, candidates: [], rounds: 0 });
        continue;
      }
      // One untimed warm-up round; then at least 3 rounds and until the slice is spent, at most 50.
      // Each round starts at another candidate, so none is always the one after a pause.
      // Past the hard deadline a job stops after its current round and, with under 3 rounds, keeps the default.
      const pastDeadline = () => choices.length > 0 && performance.now() - tm0 > 1.5 * budgetMs; // the first job always runs in full
      for (let round = -1; round < 50 && (round < 3 || performance.now() - start < slice) && !(round >= 0 && pastDeadline()); round++) {
        for (let k = 0; k < cands.length; k++) {
          const ci = (k + Math.max(0, round)) % cands.length;
          be.chunks.set(choice(cands[ci]));
          for (let r = 0; r < reps; r++) be.matmul(out, j.w.w, x, nTok);
          const ts = performance.now();
          be.compute();
          if (round >= 0) times[ci].push((performance.now() - ts) / reps);
        }
        if (round >= 0) rounds++;
      }
      // The fastest round of each: on a shared machine, slow rounds are other processes' doing.
      const fastest = times.map((t) => Math.min(...t));
      // A candidate must also beat the default in most rounds, pairwise (a sign test against one lucky round).
      const winsOverDefault = (ci: number) => times[ci].filter((t, r) => t < times[0][r]).length / times[ci].length;
      let best = 0;
      for (let ci = 1; ci < cands.length; ci++) if (fastest[ci] < fastest[best] && winsOverDefault(ci) >= MIN_WINS) best = ci;
      if (fastest[best] > fastest[0] * (1 - MIN_GAIN) || rounds < 3) best = 0;
      be.chunks.set(choice(cands[best]));
      choices.push({ ...choice(cands[best]), defaultMs: sig4(fastest[0]), bestMs: sig4(fastest[best]), candidates: cands, rounds });
      await new Promise((r) => setTimeout(r, 0)); // let the event loop breathe between shapes
    }
  } finally {
    core.release(mark);
  }
  const elapsedMs = performance.now() - t0;
  let reason = `measured ${jobs.length} shape/phase pairs in ${Math.round(elapsedMs)} ms (budget ${budgetMs} ms)`;
  if (opts.storage) {
    try {
      await opts.storage.put(key, encodeChoices(choices, kv, opts.fingerprint));
      reason += `; stored as ${key}`;
    } catch (e) {
      reason += `; not stored: ${(e as Error).message}`;
    }
  }
  return { source: 'measured', reason, key, kernelVersion: kv, budgetMs, elapsedMs, choices };
}

/** 4 significant digits: a tiny model's matmul takes microseconds, which 3 decimals of ms would round together. */
const sig4 = (x: number) => Number(x.toPrecision(4));

/** u32 [n][5]: wtype, n_in, n_out, phase (0 decode, 1 prefill), chunk rows; timings in the metadata. */
function encodeChoices(choices: TunedShape[], kv: string, fingerprint: string): StoredValue {
  const rows = new Uint32Array(choices.length * 5);
  choices.forEach((c, i) => rows.set([c.wtype, c.nIn, c.nOut, c.phase === 'prefill' ? 1 : 0, c.chunkRows], i * 5));
  return {
    tensors: [{ name: 'chunk_rows', dtype: 'U32', shape: [choices.length, 5], bytes: new Uint8Array(rows.buffer) }],
    meta: {
      kind: 'matmul_tuning',
      kernel_version: kv,
      fingerprint,
      timings: JSON.stringify(choices.map((c) => [c.defaultMs, c.bestMs, c.rounds])),
      measured_at: new Date().toISOString(),
    },
  };
}

function decodeChoices(v: StoredValue): TunedShape[] | null {
  const t = v.tensors.find((x) => x.name === 'chunk_rows');
  if (!t || t.dtype !== 'U32' || t.shape.length !== 2 || t.shape[1] !== 5) return null;
  const n = t.shape[0];
  const u = new Uint32Array(t.bytes.slice().buffer, 0, n * 5);
  let timings: [number | null, number | null, number][] = [];
  try {
    timings = JSON.parse(v.meta.timings ?? '[]');
  } catch {
    /* timings are informative only */
  }
  const out: TunedShape[] = [];
  for (let i = 0; i < n; i++) {
    const [wtype, nIn, nOut, phase, chunkRows] = u.subarray(i * 5, i * 5 + 5);
    const tm = timings[i] ?? [null, null, 0];
    out.push({ wtype, nIn, nOut, phase: phase ? 'prefill' : 'decode', chunkRows, defaultMs: tm[0], bestMs: tm[1], candidates: [], rounds: tm[2] });
  }
  return out;
}
