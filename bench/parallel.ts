/**
 * Continuous batching (issue 5, scheduler): aggregate decode speed of 1 client against N concurrent clients on the
 * same engine, through the library API and through the HTTP server (Ollama's /api/generate, streamed).
 *
 *   npm run bench:parallel -- [--shape 1b|tiny] [--type Q4_0] [--threads 2] [--clients 4] [--predict 64]
 *                             [--prompt 8] [--reps 2] [--model PATH] [--http 0|1]
 *
 * Each client asks for a greedy generation of `--predict` tokens after a `--prompt`-token prompt (different prompts).
 * Aggregate decode tok/s = (tokens generated after each client's first) / (last client done − first client's first
 * token): the rate at which the engine produces tokens while the clients decode together. Runs alternate 1 client
 * and N clients, `--reps` times each (best of each reported, all printed), after a warm-up. The engine has
 * numParallel = N in both cases: only the number of concurrent clients changes. Prints the load average: timings
 * on a busy machine are not comparable.
 *
 * First, the bound batching can reach on this machine: the time of one forward of N rows (`Engine.bench`'s
 * prefill of an N-token prompt: the same matmuls as N sequences' decode steps) against one forward of 1 row (its
 * decode steps), interleaved `--reps` times; N·t(1)/t(N) is the aggregate speed-up if nothing else cost time.
 */
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { createEngine, type Engine } from '../src/engine.ts';
import { createApp } from '../src/server/app.ts';
import { syntheticModel, type ShapeName } from './models.ts';
import { formatTable } from './table.ts';

function flags(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    if (!argv[i].startsWith('--')) continue;
    out[argv[i].slice(2)] = argv[i + 1] ?? '';
    i++;
  }
  return out;
}

const log = (m: string) => console.error(m);

/** Deterministic token ids in [3, nVocab). */
function tokens(n: number, seed: number, nVocab: number): number[] {
  return Array.from({ length: n }, (_, i) => 3 + ((i * 7919 + seed * 104729 + ((i * i) % 97)) % (nVocab - 3)));
}

/** One client's run: when its first token came, when it ended, tokens generated. */
interface ClientRun {
  first: number;
  end: number;
  n: number;
}

interface Result {
  clients: number;
  tokens: number;
  seconds: number;
  tokPerS: number;
}

function aggregate(runs: ClientRun[]): Result {
  const first = Math.min(...runs.map((r) => r.first));
  const end = Math.max(...runs.map((r) => r.end));
  const tokens = runs.reduce((s, r) => s + r.n - 1, 0);
  const seconds = (end - first) / 1000;
  return { clients: runs.length, tokens, seconds, tokPerS: tokens / seconds };
}

async function libClient(e: Engine, prompt: number[], predict: number): Promise<ClientRun> {
  const gen = e.generate({ prompt, options: { temperature: 0, num_predict: predict } });
  let first = -1;
  let n = 0;
  for await (const c of gen) {
    if (c.token < 0) continue;
    if (first < 0) first = performance.now();
    n++;
  }
  return { first, end: performance.now(), n };
}

async function httpClient(base: string, prompt: string, predict: number): Promise<ClientRun> {
  const res = await fetch(`${base}/api/generate`, {
    method: 'POST',
    body: JSON.stringify({ model: 'bench', prompt, raw: true, stream: true, options: { temperature: 0, num_predict: predict } }),
  });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let first = -1;
  let buf = '';
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (!line.trim()) continue;
      const o = JSON.parse(line);
      if (o.done) n = o.eval_count;
      else if (first < 0) first = performance.now();
    }
  }
  return { first, end: performance.now(), n };
}

async function main(): Promise<void> {
  const f = flags(process.argv.slice(2));
  const threads = Number(f.threads ?? 2);
  const clients = Number(f.clients ?? 4);
  const predict = Number(f.predict ?? 64);
  const promptLen = Number(f.prompt ?? 8);
  const reps = Number(f.reps ?? 2);
  const http = (f.http ?? '1') !== '0';
  const path = f.model ?? (await syntheticModel((f.shape as ShapeName) ?? '1b', (f.type as 'Q4_0') ?? 'Q4_0', log)).path;
  const load0 = loadavg();
  log(`model ${path}, ${threads} threads, ${clients} clients × ${predict} tokens, load average ${load0.map((x) => x.toFixed(2)).join(' ')}`);

  const rows: string[][] = [];
  let bound = '';
  const report = (api: string, ones: Result[], many: Result[]) => {
    const best = (rs: Result[]) => rs.reduce((a, b) => (b.tokPerS > a.tokPerS ? b : a));
    const b1 = best(ones);
    const bn = best(many);
    rows.push([api, '1', b1.tokPerS.toFixed(2), ones.map((r) => r.tokPerS.toFixed(2)).join(' '), '']);
    rows.push([api, String(clients), bn.tokPerS.toFixed(2), many.map((r) => r.tokPerS.toFixed(2)).join(' '), (bn.tokPerS / b1.tokPerS).toFixed(2)]);
  };

  // Library API.
  {
    const e = await createEngine({ model: path, threads, numParallel: clients, numCtx: 512 });
    const V = e.info.nVocab;
    {
      const t1: number[] = [];
      const tn: number[] = [];
      for (let r = 0; r < reps + 1; r++) {
        const b = await e.bench({ promptTokens: tokens(clients, 300 + r, V), nPredict: 4 });
        if (r === 0) continue; // warm-up
        tn.push(b.prefillMs);
        t1.push(b.decodeMs / b.nDecode);
      }
      const min = (a: number[]) => Math.min(...a);
      log(`forward of ${clients} rows: ${tn.map((x) => x.toFixed(0)).join(' ')} ms; of 1 row: ${t1.map((x) => x.toFixed(0)).join(' ')} ms`);
      bound = `forward of ${clients} rows ${min(tn).toFixed(1)} ms, of 1 row ${min(t1).toFixed(1)} ms (best of ${reps}): speed-up bound ${((clients * min(t1)) / min(tn)).toFixed(2)}`;
    }
    const prompts = Array.from({ length: clients }, (_, k) => tokens(promptLen, k + 1, V));
    await libClient(e, prompts[0], 4); // warm-up
    const ones: Result[] = [];
    const many: Result[] = [];
    for (let r = 0; r < reps; r++) {
      ones.push(aggregate([await libClient(e, tokens(promptLen, 100 + r, V), predict)]));
      many.push(aggregate(await Promise.all(prompts.map((p, k) => libClient(e, tokens(promptLen, 200 + r * clients + k, V), predict)))));
      log(`library rep ${r + 1}: 1 client ${ones[r].tokPerS.toFixed(2)} tok/s, ${clients} clients ${many[r].tokPerS.toFixed(2)} tok/s (${many[r].tokens} tokens in ${many[r].seconds.toFixed(2)} s)`);
    }
    const st = e.slotStats()!;
    log(`scheduler: ${st.batches} forwards, ${(st.batchSeqs / st.batches).toFixed(2)} sequences per forward`);
    await e.close();
    report('library', ones, many);
  }

  // HTTP server (a real socket), the same model as a loose file of a fresh models directory.
  if (http) {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-parallel-'));
    symlinkSync(path, join(dir, 'bench.gguf'));
    const app = createApp({ modelsDir: dir, ollamaModelsDir: undefined, threads, numParallel: clients, log: 'off', storage: 'off', keepAliveMs: Infinity });
    const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const text = (k: number) => `Client ${k} asks: once upon a time, in a land far away, there was`;
      await httpClient(base, text(0), 4); // load + warm-up
      const ones: Result[] = [];
      const many: Result[] = [];
      for (let r = 0; r < reps; r++) {
        ones.push(aggregate([await httpClient(base, text(100 + r), predict)]));
        many.push(aggregate(await Promise.all(Array.from({ length: clients }, (_, k) => httpClient(base, text(200 + r * clients + k), predict)))));
        log(`http rep ${r + 1}: 1 client ${ones[r].tokPerS.toFixed(2)} tok/s, ${clients} clients ${many[r].tokPerS.toFixed(2)} tok/s`);
      }
      const st = app.state.loader.list()[0]?.engine.slotStats();
      if (st) log(`http scheduler: ${st.batches} forwards, ${(st.batchSeqs / st.batches).toFixed(2)} sequences per forward`);
      report('http', ones, many);
    } finally {
      await new Promise<void>((r) => server.close(() => r()));
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    }
  }

  const load1 = loadavg();
  console.log(`\nContinuous batching: ${path.split('/').pop()}, ${threads} threads, ${predict} tokens per client, prompt ${promptLen} tokens`);
  console.log(`load average before ${load0.map((x) => x.toFixed(2)).join(' ')}, after ${load1.map((x) => x.toFixed(2)).join(' ')}\n`);
  console.log(formatTable(['API', 'clients', 'aggregate decode tok/s (best)', 'each rep', 'ratio N/1'], rows));
  console.log(`\n${bound}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
