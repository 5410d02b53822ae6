/**
 * Where a continuous-batching run spends its time (issue 5): a timeline of the scheduler's forwards (start, end,
 * sequences, rows) and of each client's tokens, on the same engine and clients as bench/parallel.ts.
 *
 *   npm run build && node dist/bench/parallel-trace.js [--shape 1b] [--type Q4_0] [--threads 2] [--clients 4]
 *       [--predict 32] [--prompt 8] [--reps 2] [--replay 0|1] [--cpu 0|1] [--profile 1|0] [--http 0|1] [--backend wasm|native|auto]
 *
 * --backend: as bench/parallel.ts (default wasm, the server's default).
 *
 * --http 1: the clients stream /api/generate from the HTTP server (a real socket), as bench/parallel.ts does, from
 * a child process (--clients-process 0: from this one).
 *
 * Per run: the window in which every client decodes (last client's first token .. first client's last), the
 * forwards in it (mean time, sequences each) and the gaps between them (scheduler, sampling, consumers, event loop).
 * --replay 1: before each batched decode step (N sequences × 1 row) the same step runs again in variants, timed,
 *   the real one last (its KV writes and logits are kept): N×1 again; 1 sequence; the N rows as 1 sequence (as
 *   Engine.bench's prefill; only when all rows have the same position); without attention and KV stores; logits of
 *   1 row. Medians are printed. --cpu 1 times them in process CPU time (with --threads 1: robust on a busy machine).
 * --profile 1 (default): the backend's per-op profile of a short run's batched decode steps, of a forward of N rows
 *   and of 1 row (Engine.bench); profiled runs execute one command at a time, so shares are the point.
 */
import type { OpProfile, WasmBackend } from '../src/backend/wasm/backend.ts';
import { createEngine, type Engine } from '../src/engine.ts';
import { parseBackendRequest } from '../src/hardware/select.ts';
import type { Batch, Model } from '../src/model/model.ts';
import { runHttpClients } from './http-clients.ts';
import { clientPrompt, flags, startBenchServer, tokens } from './parallel-setup.ts';
import { syntheticModel, type ShapeName } from './models.ts';

const log = (m: string) => console.error(m);

interface Fwd {
  /** Slots held by generations when the forward began (≥ nSeq: some had not asked for a step yet). */
  held: number;
  t0: number;
  t1: number;
  nSeq: number;
  rows: number;
}

async function main(): Promise<void> {
  const f = flags(process.argv.slice(2));
  const threads = Number(f.threads ?? 2);
  const clients = Number(f.clients ?? 4);
  const predict = Number(f.predict ?? 32);
  const promptLen = Number(f.prompt ?? 8);
  const reps = Number(f.reps ?? 2);
  const backend = parseBackendRequest(f.backend ?? 'wasm', '--backend');
  const path = (await syntheticModel((f.shape as ShapeName) ?? '1b', (f.type as 'Q4_0') ?? 'Q4_0', log)).path;
  // --http 1: the clients go through the HTTP server (streamed /api/generate on a real socket), as bench/parallel.ts.
  const http = f.http === '1';
  let e: Engine;
  let httpClient: ((seeds: number[]) => Promise<number[][]>) | null = null;
  // --clients-process 0: the HTTP clients run in this process (default: a child, as bench/parallel.ts).
  const separate = f['clients-process'] !== '0';
  let closeAll: () => Promise<void>;
  if (http) {
    const srv = await startBenchServer(path, { threads, numParallel: clients, backend });
    // The clients' times come back on the epoch clock: placed on this process's performance.now().
    httpClient = async (seeds: number[]) =>
      (await runHttpClients(srv.base, seeds.map(clientPrompt), predict, separate)).map((r) =>
        r.times.map((t) => t - performance.timeOrigin),
      );
    await httpClient([0]); // loads the model
    e = srv.app.state.loader.list()[0]!.engine;
    closeAll = srv.close;
  } else {
    e = await createEngine({ model: path, threads, numParallel: clients, numCtx: 512, backend });
    closeAll = () => e.close();
  }
  const V = e.info.nVocab;
  // Internals (a benchmark's view): the scheduler's model.
  const sched = (e as unknown as { sched: { model: Model; stats(): { active: number } } }).sched;
  const m = sched.model;
  const fwds: Fwd[] = [];
  const be = (e as unknown as { backend: WasmBackend }).backend;
  // Profiles (one command at a time): of batched decode steps (N sequences × 1 row), of forward(N rows) and forward(1 row).
  let profiling = false;
  const profs = { batch: new Map() as OpProfile, fwdN: new Map() as OpProfile, fwd1: new Map() as OpProfile };
  const steps = { batch: 0, fwdN: 0, fwd1: 0 };
  const orig = m.forwardBatch!.bind(m);
  const origFwd = m.forward.bind(m);
  m.forward = (nTok: number, nKv: number, outRows: number) => {
    const key = nTok === clients ? 'fwdN' : nTok === 1 ? 'fwd1' : null;
    if (profiling && key) {
      be.profiler = profs[key];
      steps[key]++;
    }
    try {
      return origFwd(nTok, nKv, outRows);
    } finally {
      be.profiler = null;
    }
  };
  // Replays (--replay 1): before each batched decode step, the same step again in variants (timed; the real one runs
  // last, so its KV writes and logits are the ones kept): 1 sequence only; no attention/KV store; logits of 1 row.
  const replay = f.replay === '1';
  const rs = { full: [] as number[], one: [] as number[], asOne: [] as number[], noAttn: [] as number[], oneLogit: [] as number[], real: [] as number[] };
  const mi = m as unknown as { s: { logits: unknown } };
  const bx = be as unknown as Record<string, unknown>;
  // --cpu 1: process CPU time instead of wall time (with --threads 1, robust on a busy machine).
  const cpu = f.cpu === '1';
  const time = (fn: () => void) => {
    if (cpu) {
      const c0 = process.cpuUsage();
      fn();
      const c = process.cpuUsage(c0);
      return (c.user + c.system) / 1000;
    }
    const t0 = performance.now();
    fn();
    return performance.now() - t0;
  };
  const asOne: Batch = { nSeq: 1, rowStart: new Int32Array(1), rowCount: new Int32Array(1), nKv: new Int32Array(1), tableSet: new Int32Array(1) };
  const one: Batch = { nSeq: 1, rowStart: new Int32Array(1), rowCount: new Int32Array([1]), nKv: new Int32Array(1), tableSet: new Int32Array(1) };
  const variants = (b: Batch) => {
    one.nKv[0] = b.nKv[0];
    one.tableSet[0] = b.tableSet[0];
    rs.one.push(time(() => void orig(one)));
    // Its rows as one sequence (as Engine.bench's prefill of N tokens: one attention, logits of the last row), where
    // every row has the same position (the bench's clients step together): rows write position p of sequence 0
    // only, which the real step rewrites.
    const pos = m.inputPositions;
    let same = true;
    for (let j = 1; j < b.nSeq; j++) same &&= pos[j] === pos[0];
    if (same) {
      asOne.rowCount[0] = b.nSeq;
      asOne.nKv[0] = b.nKv[0];
      asOne.tableSet[0] = b.tableSet[0];
      rs.asOne.push(time(() => void orig(asOne)));
    }
    const att = bx.attention;
    const kvs = bx.kvStore;
    bx.attention = () => {};
    bx.kvStore = () => {};
    rs.noAttn.push(time(() => void orig(b)));
    bx.attention = att;
    bx.kvStore = kvs;
    const mm = bx.matmul as (o: unknown, w: unknown, x: unknown, rows: number) => void;
    bx.matmul = (o: unknown, w: unknown, x: unknown, rows: number) => mm.call(be, o, w, x, o === mi.s.logits ? 1 : rows);
    rs.oneLogit.push(time(() => void orig(b)));
    bx.matmul = mm;
    rs.full.push(time(() => void orig(b)));
  };
  m.forwardBatch = (b: Batch) => {
    if (replay && b.nSeq === clients && b.rowStart[b.nSeq - 1] === b.nSeq - 1) variants(b);
    const held = sched.stats().active;
    const t0 = performance.now();
    if (profiling && b.nSeq === clients && b.rowStart[b.nSeq - 1] === b.nSeq - 1) {
      be.profiler = profs.batch;
      steps.batch++;
    }
    let r: void | Promise<void>;
    try {
      r = orig(b);
    } finally {
      be.profiler = null;
    }
    const decodeStep = b.nSeq === clients && b.rowStart[b.nSeq - 1] === b.nSeq - 1;
    const done = () => {
      const t1 = performance.now();
      if (replay && decodeStep) rs.real.push(t1 - t0);
      fwds.push({ held, t0, t1, nSeq: b.nSeq, rows: b.rowStart[b.nSeq - 1] + b.rowCount[b.nSeq - 1] });
    };
    if (r instanceof Promise) return r.then(done);
    done();
  };
  const libClient = async (prompt: number[]) => {
    const times: number[] = [];
    for await (const c of e.generate({ prompt, options: { temperature: 0, num_predict: predict } })) if (c.token >= 0) times.push(performance.now());
    return times;
  };
  const seedsOf = (r: number) => Array.from({ length: clients }, (_, k) => 200 + r * clients + k);
  const runClients = (seeds: number[]) => (httpClient ? httpClient(seeds) : Promise.all(seeds.map((k) => libClient(tokens(promptLen, k, V)))));
  await runClients([1]);
  for (let r = 0; r < reps; r++) {
    fwds.length = 0;
    const runs = await runClients(seedsOf(r));
    const lo = Math.max(...runs.map((t) => t[0]));
    const hi = Math.min(...runs.map((t) => t[t.length - 1]));
    const inWin = fwds.filter((x) => x.t0 >= lo && x.t1 <= hi);
    const fwdMs = inWin.reduce((s, x) => s + x.t1 - x.t0, 0);
    const gaps = inWin.slice(1).map((x, i) => x.t0 - inWin[i].t1);
    const gapMs = gaps.reduce((s, g) => s + g, 0);
    const toks = runs.reduce((s, t) => s + t.filter((x) => x > lo && x <= hi).length, 0);
    log(`rep ${r + 1}: all-decode window ${(hi - lo).toFixed(0)} ms, ${toks} tokens (${((toks * 1000) / (hi - lo)).toFixed(2)} tok/s); ${inWin.length} forwards in it: ` +
      `${(fwdMs / inWin.length).toFixed(1)} ms each, sequences ${inWin.map((x) => x.nSeq).join('')}; gaps between them ${(gapMs / Math.max(1, gaps.length)).toFixed(2)} ms mean, ${Math.max(...gaps).toFixed(2)} max`);
    const all = fwds.map((x, i) => `${x.held > x.nSeq ? `[${x.held} held]` : ''}${x.nSeq}/${x.rows}:${(x.t1 - x.t0).toFixed(0)}+${i + 1 < fwds.length ? (fwds[i + 1].t0 - x.t1).toFixed(1) : '-'}`);
    log(`  forwards ([slots held when more than its sequences] seqs/rows:ms+gap): ${all.join(' ')}`);
    const starts = runs.map((t) => (t[0] - fwds[0].t0).toFixed(0));
    log(`  first token per client at ${starts.join(', ')} ms after the first forward began`);
  }
  if (replay) {
    const med = (a: number[]) => a.slice().sort((x, y) => x - y)[a.length >> 1] ?? NaN;
    log(`\nreplayed batched decode steps (${rs.full.length}), median ms: ${clients}×1 real ${med(rs.real).toFixed(1)}, replay ${med(rs.full).toFixed(1)}; ` +
      `1 sequence ${med(rs.one).toFixed(1)}; as 1 sequence of ${clients} rows ${med(rs.asOne).toFixed(1)}; without attention and KV stores ${med(rs.noAttn).toFixed(1)}; logits of 1 row ${med(rs.oneLogit).toFixed(1)}`);
    log(`  bound from these: ${clients}·t(1 seq)/t(${clients} seqs) = ${((clients * med(rs.one)) / med(rs.full)).toFixed(2)}; as bench/parallel.ts computes it (1 sequence of ${clients} rows) ${((clients * med(rs.one)) / med(rs.asOne)).toFixed(2)}${cpu ? ' (CPU time)' : ''}`);
  }
  if (f.profile === '0') return void (await closeAll());
  // Profiled: a short 4-client run (its decode steps), then Engine.bench's forward of N rows and of 1 row.
  profiling = true;
  await runClients(Array.from({ length: clients }, (_, k) => 900 + k));
  await e.bench({ promptTokens: tokens(clients, 999, V), nPredict: 8 });
  profiling = false;
  const keys = new Set([...profs.batch.keys(), ...profs.fwdN.keys(), ...profs.fwd1.keys()]);
  const per = (p: OpProfile, k: string, n: number) => ((p.get(k)?.ms ?? 0) / Math.max(1, n));
  const cnt = (p: OpProfile, k: string, n: number) => ((p.get(k)?.calls ?? 0) / Math.max(1, n));
  const tot = (p: OpProfile, n: number) => [...p.values()].reduce((a, x) => a + x.ms, 0) / Math.max(1, n);
  log(`\nprofiled ms per forward (calls): batched ${clients}×1 row (${steps.batch} steps) | forward ${clients} rows (${steps.fwdN}) | forward 1 row (${steps.fwd1})`);
  for (const k of [...keys].sort((a, b) => per(profs.batch, b, steps.batch) - per(profs.batch, a, steps.batch))) {
    log(`  ${k.padEnd(36)} ${per(profs.batch, k, steps.batch).toFixed(2).padStart(8)} (${cnt(profs.batch, k, steps.batch)}) | ${per(profs.fwdN, k, steps.fwdN).toFixed(2).padStart(8)} (${cnt(profs.fwdN, k, steps.fwdN)}) | ${per(profs.fwd1, k, steps.fwd1).toFixed(2).padStart(8)} (${cnt(profs.fwd1, k, steps.fwd1)})`);
  }
  log(`  ${'total'.padEnd(36)} ${tot(profs.batch, steps.batch).toFixed(2).padStart(8)} | ${tot(profs.fwdN, steps.fwdN).toFixed(2).padStart(8)} | ${tot(profs.fwd1, steps.fwd1).toFixed(2).padStart(8)}`);
  await closeAll();
}
main().catch((err) => {
  console.error(err);
  process.exit(1);
});
