/**
 * Continuous batching (issue 5, scheduler): aggregate decode speed of 1 client against N concurrent clients on the
 * same engine, through the library API and through the HTTP server (Ollama's /api/generate, streamed).
 *
 *   npm run bench:parallel -- [--shape 1b|tiny] [--type Q4_0] [--threads 2] [--clients 4] [--predict 64]
 *                             [--prompt 8] [--reps 2] [--model PATH] [--http 0|1] [--backend wasm|native|auto]
 *                             [--clients-process 1|0] [--peer 1|0]
 *
 * The peer (--peer 1, default, once bench/build-llama-bench.sh has built it): llama.cpp's llama-batched-bench on the
 * same file and threads, aggregate decode tok/s (its S_TG) of 1 and N parallel sequences after the same prompt length.
 *
 * The HTTP clients run in a child process (bench/http-clients.ts), as a load generator would: the server's process
 * then carries only the server (its event loop, garbage and GC threads). --clients-process 0 runs them in this one.
 *
 * Each client asks for a greedy generation of `--predict` tokens after a `--prompt`-token prompt (different prompts).
 * Two aggregate decode rates, both printed:
 * - all-decode window (the headline): decode tokens over the window in which every client decodes, from the last
 *   client's first token to the first client's last token; each client's token count at the window's edges is
 *   interpolated linearly between its tokens. Prompt evaluation (before each client's first token) and the ramp
 *   up and down (fewer clients running) are outside it. With 1 client it is (n − 1) / (last token − first token).
 * - end to end (the earlier definition): tokens generated after each client's first / (last client done − first
 *   client's first token); a client that starts late puts its prompt evaluation and the others' lone steps in it.
 * Runs alternate 1 client and N clients, `--reps` times each (best of each reported, all printed), after a warm-up.
 * The engine has numParallel = N in both cases: only the number of concurrent clients changes. Prints the load
 * average: timings on a busy machine are not comparable.
 *
 * First, the bound batching can reach on this machine: the time of one forward of N rows (`Engine.bench`'s
 * prefill of an N-token prompt with the logits of all N rows, `outRows`: the same matmuls as N sequences' decode
 * steps) against one forward of 1 row (its decode steps), interleaved `--reps` times; N·t(1)/t(N) is the aggregate
 * speed-up if nothing else cost time. (The earlier bound timed the N-row forward with the last row's logits only,
 * one output matmul row instead of N; it is printed beside.) bench/parallel-trace.ts shows where a run's time goes.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { loadavg } from 'node:os';
import { createEngine, type Engine } from '../src/engine.ts';
import { parseBackendRequest } from '../src/hardware/select.ts';
import { syntheticModel, type ShapeName } from './models.ts';
import { runHttpClients, type ClientRun } from './http-clients.ts';
import { clientPrompt, flags, startBenchServer, tokens } from './parallel-setup.ts';
import { llamaBenchPath } from './paths.ts';
import { formatTable } from './table.ts';

const log = (m: string) => console.error(m);

interface Result {
  clients: number;
  /** All-decode window: tokens in it (interpolated), its length, the rate. */
  tokens: number;
  seconds: number;
  tokPerS: number;
  /** End to end (the earlier definition). */
  e2eTokens: number;
  e2eSeconds: number;
  e2eTokPerS: number;
}

/** Tokens client `t` had produced at time `x` (within [t[0], t[last]]), linear between its tokens. */
function countAt(t: number[], x: number): number {
  let i = 0;
  while (i + 1 < t.length && t[i + 1] <= x) i++;
  return i + 1 < t.length && t[i + 1] > t[i] ? i + (x - t[i]) / (t[i + 1] - t[i]) : i;
}

function aggregate(runs: ClientRun[]): Result {
  const first = Math.min(...runs.map((r) => r.times[0]));
  const end = Math.max(...runs.map((r) => r.end));
  const e2eTokens = runs.reduce((s, r) => s + r.n - 1, 0);
  const e2eSeconds = (end - first) / 1000;
  const lo = Math.max(...runs.map((r) => r.times[0]));
  const hi = Math.min(...runs.map((r) => r.times[r.times.length - 1]));
  const tokens = hi > lo ? runs.reduce((s, r) => s + countAt(r.times, hi) - countAt(r.times, lo), 0) : 0;
  const seconds = Math.max(0, hi - lo) / 1000;
  return { clients: runs.length, tokens, seconds, tokPerS: hi > lo ? tokens / seconds : NaN, e2eTokens, e2eSeconds, e2eTokPerS: e2eTokens / e2eSeconds };
}

async function libClient(e: Engine, prompt: number[], predict: number): Promise<ClientRun> {
  const gen = e.generate({ prompt, options: { temperature: 0, num_predict: predict } });
  const times: number[] = [];
  for await (const c of gen) if (c.token >= 0) times.push(performance.now());
  return { times, end: performance.now(), n: times.length };
}

async function main(): Promise<void> {
  const f = flags(process.argv.slice(2));
  const threads = Number(f.threads ?? 2);
  const clients = Number(f.clients ?? 4);
  const predict = Number(f.predict ?? 64);
  const promptLen = Number(f.prompt ?? 8);
  const reps = Number(f.reps ?? 2);
  const http = (f.http ?? '1') !== '0';
  // The HTTP clients run in a process of their own (as a load generator does) unless --clients-process 0.
  const separate = (f['clients-process'] ?? '1') !== '0';
  // The server's default backend is wasm; the library's is auto (native where its SIMD build loads). Default here: wasm.
  const backend = parseBackendRequest(f.backend ?? 'wasm', '--backend');
  const path = f.model ?? (await syntheticModel((f.shape as ShapeName) ?? '1b', (f.type as 'Q4_0') ?? 'Q4_0', log)).path;
  const load0 = loadavg();
  log(`model ${path}, ${threads} threads, ${clients} clients × ${predict} tokens, load average ${load0.map((x) => x.toFixed(2)).join(' ')}`);

  const rows: string[][] = [];
  let bound = '';
  const report = (api: string, ones: Result[], many: Result[]) => {
    const best = (rs: Result[]) => rs.reduce((a, b) => (b.tokPerS > a.tokPerS ? b : a));
    const b1 = best(ones);
    const bn = best(many);
    const e1 = Math.max(...ones.map((r) => r.e2eTokPerS));
    const en = Math.max(...many.map((r) => r.e2eTokPerS));
    const each = (rs: Result[]) => rs.map((r) => `${r.tokPerS.toFixed(2)} (${r.e2eTokPerS.toFixed(2)})`).join(' ');
    rows.push([api, '1', b1.tokPerS.toFixed(2), e1.toFixed(2), each(ones), '', '']);
    rows.push([api, String(clients), bn.tokPerS.toFixed(2), en.toFixed(2), each(many), (bn.tokPerS / b1.tokPerS).toFixed(2), (en / e1).toFixed(2)]);
  };

  // Library API.
  {
    const e = await createEngine({ model: path, threads, numParallel: clients, numCtx: 512, backend });
    log(`library engine: backend ${e.backendInfo.kind} (${e.backendInfo.reason})`);
    const V = e.info.nVocab;
    {
      const t1: number[] = [];
      const tn: number[] = [];
      const tnl: number[] = [];
      for (let r = 0; r < reps + 1; r++) {
        const b = await e.bench({ promptTokens: tokens(clients, 300 + r, V), nPredict: 4 });
        const bl = await e.bench({ promptTokens: tokens(clients, 400 + r, V), nPredict: 1, outRows: clients });
        if (r === 0) continue; // warm-up
        tn.push(b.prefillMs);
        tnl.push(bl.prefillMs);
        t1.push(b.decodeMs / b.nDecode);
      }
      const min = (a: number[]) => Math.min(...a);
      log(`forward of ${clients} rows: ${tn.map((x) => x.toFixed(0)).join(' ')} ms (logits of ${clients} rows: ${tnl.map((x) => x.toFixed(0)).join(' ')}); of 1 row: ${t1.map((x) => x.toFixed(0)).join(' ')} ms`);
      // A batched decode step computes the logits of every row: the bound uses that forward (the earlier one, the
      // logits of the last row only, is printed beside it).
      bound =
        `forward of ${clients} rows with ${clients} logit rows ${min(tnl).toFixed(1)} ms (with 1: ${min(tn).toFixed(1)}), of 1 row ${min(t1).toFixed(1)} ms (best of ${reps}): ` +
        `speed-up bound ${((clients * min(t1)) / min(tnl)).toFixed(2)} (with 1 logit row ${((clients * min(t1)) / min(tn)).toFixed(2)})`;
    }
    const prompts = Array.from({ length: clients }, (_, k) => tokens(promptLen, k + 1, V));
    await libClient(e, prompts[0], 4); // warm-up
    const ones: Result[] = [];
    const many: Result[] = [];
    for (let r = 0; r < reps; r++) {
      ones.push(aggregate([await libClient(e, tokens(promptLen, 100 + r, V), predict)]));
      many.push(aggregate(await Promise.all(prompts.map((p, k) => libClient(e, tokens(promptLen, 200 + r * clients + k, V), predict)))));
      log(`library rep ${r + 1}: 1 client ${ones[r].tokPerS.toFixed(2)} tok/s, ${clients} clients ${many[r].tokPerS.toFixed(2)} tok/s (${many[r].tokens.toFixed(1)} tokens in ${many[r].seconds.toFixed(2)} s; end to end ${many[r].e2eTokPerS.toFixed(2)}: ${many[r].e2eTokens} in ${many[r].e2eSeconds.toFixed(2)} s)`);
    }
    const st = e.slotStats()!;
    log(`scheduler: ${st.batches} forwards, ${(st.batchSeqs / st.batches).toFixed(2)} sequences per forward`);
    await e.close();
    report('library', ones, many);
  }

  // HTTP server (a real socket), the same model as a loose file of a fresh models directory.
  if (http) {
    const srv = await startBenchServer(path, { threads, numParallel: clients, backend });
    try {
      await runHttpClients(srv.base, [clientPrompt(0)], 4, separate); // load + warm-up
      const ones: Result[] = [];
      const many: Result[] = [];
      for (let r = 0; r < reps; r++) {
        ones.push(aggregate(await runHttpClients(srv.base, [clientPrompt(100 + r)], predict, separate)));
        many.push(aggregate(await runHttpClients(srv.base, Array.from({ length: clients }, (_, k) => clientPrompt(200 + r * clients + k)), predict, separate)));
        log(`http rep ${r + 1}: 1 client ${ones[r].tokPerS.toFixed(2)} tok/s, ${clients} clients ${many[r].tokPerS.toFixed(2)} tok/s (end to end ${ones[r].e2eTokPerS.toFixed(2)}, ${many[r].e2eTokPerS.toFixed(2)})`);
      }
      const st = srv.app.state.loader.list()[0]?.engine.slotStats();
      if (st) log(`http scheduler: ${st.batches} forwards, ${(st.batchSeqs / st.batches).toFixed(2)} sequences per forward`);
      report('http', ones, many);
    } finally {
      await srv.close();
    }
  }

  // The peer: llama.cpp's own continuous-batching benchmark on the same file and threads (built by
  // bench/build-llama-bench.sh), aggregate decode tok/s (S_TG) of 1 and N parallel sequences.
  const peer = llamaBenchPath('llama-batched-bench');
  if ((f.peer ?? '1') !== '0' && existsSync(peer)) {
    try {
      const out = execFileSync(peer, ['-m', path, '-c', String(Math.max(512, clients * (promptLen + predict) * 2)), '-b', '512', '-ub', '512',
        '-npp', String(promptLen), '-ntg', String(predict), '-npl', `1,${clients}`, '-t', String(threads)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 600_000 });
      // | PP | TG | B | N_KV | T_PP s | S_PP t/s | T_TG s | S_TG t/s | T s | S t/s |
      const tg = new Map<number, number>();
      for (const line of out.split('\n')) {
        const c = line.split('|').map((x) => x.trim()).filter((x) => x !== '');
        if (c.length >= 10 && /^\d+$/.test(c[2])) tg.set(Number(c[2]), Number(c[7]));
      }
      const [one, many] = [tg.get(1), tg.get(clients)];
      if (one && many) {
        rows.push(['llama.cpp batched-bench', '1', one.toFixed(2), '', '', '', '']);
        rows.push(['llama.cpp batched-bench', String(clients), many.toFixed(2), '', '', (many / one).toFixed(2), '']);
      } else log(`llama-batched-bench: no S_TG rows for 1 and ${clients} in its output`);
    } catch (e) {
      log(`llama-batched-bench failed: ${(e as Error).message.split('\n')[0]}`);
    }
  } else if ((f.peer ?? '1') !== '0') log(`no ${peer}: run bench/build-llama-bench.sh for the llama.cpp peer row`);

  const load1 = loadavg();
  console.log(`\nContinuous batching: ${path.split('/').pop()}, ${threads} threads, ${predict} tokens per client, prompt ${promptLen} tokens`);
  console.log(`load average before ${load0.map((x) => x.toFixed(2)).join(' ')}, after ${load1.map((x) => x.toFixed(2)).join(' ')}\n`);
  console.log(formatTable(['API', 'clients', 'decode tok/s, all-decode window (best)', 'end to end (best)', 'each rep: window (end to end)', 'ratio N/1', 'ratio end to end'], rows));
  console.log(`\n${bound}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
