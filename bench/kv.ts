/**
 * KV cache benchmarks (issue 4): `npm run build && node dist/bench/kv.js <what> [flags]`
 *
 *   prefix     time to first token of a request with a `--system`-token shared system prompt
 *              (default 2000) on a fresh engine, then of a second request sharing it (different
 *              user turn): the ratio is what the prefix index saves. Default model: 1b Q4_0.
 *   pagesize   prefill (`--prompt` tokens) and decode (`--predict` steps) at page sizes 16..256
 *              (Engine.bench, best of `--reps`). Default model: tiny Q4_0.
 *   chat       reuse granularity at page sizes 16/32/64/128: (1) `--users` requests sharing a `--system`-token
 *              system prompt (default 300: not a multiple of 16 or 64) with different `--user`-token messages;
 *              (2) a `--turns`-turn conversation, each turn's prompt the history (answers included) plus a
 *              new message. Per page size: prompt tokens evaluated and mean TTFT of the requests after the
 *              first, in the same engine; then a fresh engine on the same storage (what a new process
 *              sees: whole pages only) answering a new user's request; and the KV bytes in use.
 *              Default model: 1b Q4_0.
 *   types      bytes per token of each K/V type and the context that fits `--budget` MiB, for the
 *              model's shape (arithmetic from the page layout; no model run). Default: 1b.
 *   coldstart  the serverless cold start: process A (fresh, empty filesystem storage) answers a prompt with a
 *              `--system`-token shared prefix and exits; process B (fresh, same storage) answers another
 *              request with that prefix. Prints each one's load time and time to first token, and the
 *              ratio A/B of TTFT. Default model: 1b Q4_0.
 *
 * Flags: --shape 1b|tiny, --type Q4_0|Q8_0, --threads N, --model PATH, --system N, --prompt N,
 * --predict N, --reps N, --budget MiB, --users N, --user N, --turns N, --sizes 16,32,64,128. Prints a table; writes nothing else.
 */
import { createEngine } from '../src/engine.ts';
import { kvRowBytes, KV_TYPE_NAMES, type KvTypeName } from '../src/kv/kv-type.ts';
import { SHAPES, syntheticModel, type ShapeName } from './models.ts';
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

async function modelPath(f: Record<string, string>, dflt: ShapeName): Promise<string> {
  if (f.model) return f.model;
  return (await syntheticModel((f.shape as ShapeName) ?? dflt, (f.type as 'Q4_0') ?? 'Q4_0', log)).path;
}

/** Deterministic token ids in [3, nVocab). */
function tokens(n: number, seed: number, nVocab: number): number[] {
  return Array.from({ length: n }, (_, i) => 3 + ((i * 7919 + seed * 104729 + ((i * i) % 97)) % (nVocab - 3)));
}

async function ttft(e: Awaited<ReturnType<typeof createEngine>>, prompt: number[]): Promise<{ ms: number; cached: number }> {
  const t0 = performance.now();
  const gen = e.generate({ prompt, options: { temperature: 0, num_predict: 1 } });
  let ms = -1;
  for await (const _ of gen) if (ms < 0) ms = performance.now() - t0;
  if (ms < 0) ms = performance.now() - t0; // the token was end-of-generation: no chunk
  return { ms, cached: gen.stats?.cachedTokens ?? -1 };
}

async function prefix(f: Record<string, string>): Promise<void> {
  const path = await modelPath(f, '1b');
  const nSys = Number(f.system ?? 2000);
  const threads = Number(f.threads ?? 2);
  const e = await createEngine({ model: path, threads, numCtx: nSys + 256 });
  const V = e.info.nVocab;
  const sys = tokens(nSys, 1, V);
  const first = await ttft(e, [...sys, ...tokens(20, 2, V)]);
  const second = await ttft(e, [...sys, ...tokens(24, 3, V)]);
  await e.close();
  console.log(
    formatTable(
      ['request', 'prompt tokens', 'from cache', 'TTFT ms'],
      [
        ['first (cold)', String(nSys + 20), String(first.cached), first.ms.toFixed(0)],
        ['second (shared system prompt)', String(nSys + 24), String(second.cached), second.ms.toFixed(0)],
      ],
    ),
  );
  console.log(`TTFT ratio first/second: ${(first.ms / second.ms).toFixed(1)}× (${path}, ${threads} threads)`);
}

async function pagesize(f: Record<string, string>): Promise<void> {
  const path = await modelPath(f, 'tiny');
  const threads = Number(f.threads ?? 2);
  const nPrompt = Number(f.prompt ?? 256);
  const nPredict = Number(f.predict ?? 64);
  const reps = Number(f.reps ?? 3);
  const sizes = [16, 32, 64, 128, 256];
  // Every page size has its own engine, loaded up front; the reps go round the sizes in turn, so a change of
  // machine load while the bench runs falls on all of them alike.
  const engines = [];
  for (const ps of sizes) engines.push(await createEngine({ model: path, threads, numCtx: nPrompt + nPredict + 256, kvPageSize: ps }));
  const p = tokens(nPrompt, 4, engines[0].info.nVocab);
  const pre = sizes.map(() => 0);
  const dec = sizes.map(() => 0);
  for (let r = 0; r <= reps; r++) {
    for (let i = 0; i < sizes.length; i++) {
      const s = await engines[i].bench({ promptTokens: p, nPredict });
      if (r === 0) continue; // warm-up
      pre[i] = Math.max(pre[i], (s.nPrompt / s.prefillMs) * 1000);
      dec[i] = Math.max(dec[i], (s.nDecode / s.decodeMs) * 1000);
    }
  }
  for (const e of engines) await e.close();
  const bestPre = Math.max(...pre);
  const bestDec = Math.max(...dec);
  // Prefix sharing works in whole pages: on average half a page of a shared prefix is recomputed (or copied),
  // and half a page per sequence is allocated but unused.
  const rows = sizes.map((ps, i) => [String(ps), pre[i].toFixed(1), (pre[i] / bestPre).toFixed(3), dec[i].toFixed(1), (dec[i] / bestDec).toFixed(3), String(ps / 2)]);
  console.log(formatTable(['page size', 'prefill tok/s', 'vs best', 'decode tok/s', 'vs best', 'tokens lost to granularity (avg)'], rows));
  console.log(`(${path}, ${threads} threads, prompt ${nPrompt}, predict ${nPredict}, best of ${reps}, sizes interleaved)`);
}

/** A greedy answer of `n` tokens: TTFT, tokens served from the cache, the tokens. */
async function answer(e: Awaited<ReturnType<typeof createEngine>>, prompt: number[], n: number): Promise<{ ms: number; cached: number; tokens: number[] }> {
  const t0 = performance.now();
  const gen = e.generate({ prompt, options: { temperature: 0, num_predict: n } });
  let ms = -1;
  const out: number[] = [];
  for await (const c of gen) {
    if (ms < 0) ms = performance.now() - t0;
    if (c.token >= 0) out.push(c.token);
  }
  if (ms < 0) ms = performance.now() - t0;
  return { ms, cached: gen.stats?.cachedTokens ?? -1, tokens: out };
}

async function chat(f: Record<string, string>): Promise<void> {
  const { MemoryStorage } = await import('../src/storage/memory.ts');
  const path = await modelPath(f, '1b');
  const threads = Number(f.threads ?? 2);
  const nSys = Number(f.system ?? 300);
  const nUsers = Number(f.users ?? 4);
  const nUser = Number(f.user ?? 24);
  const nTurns = Number(f.turns ?? 4);
  const nPredict = Number(f.predict ?? 8);
  const sizes = (f.sizes ?? '16,32,64,128').split(',').map(Number);
  const numCtx = Math.max(nSys + nUser + nPredict, nTurns * (nUser + nPredict) + nSys) + 64;
  // One engine per page size, each with its own storage; every step of the workload runs on each in turn, so a
  // change of machine load while the bench runs falls on all page sizes alike.
  const storages = sizes.map(() => new MemoryStorage());
  const engines = [];
  for (const [i, ps] of sizes.entries()) engines.push(await createEngine({ model: path, threads, numCtx, kvPageSize: ps, kvStorage: storages[i] }));
  const V = engines[0].info.nVocab;
  const sys = tokens(nSys, 1, V);
  // (1) Shared system prompt: user k's message differs (seed 10 + k), lengths vary by a few tokens.
  const user = (k: number) => tokens(nUser + (k % 3), 10 + k, V);
  const evalSys = sizes.map(() => 0);
  const msSys = sizes.map(() => 0);
  for (let k = 0; k < nUsers; k++) {
    const p = [...sys, ...user(k)];
    for (const [i, e] of engines.entries()) {
      const r = await answer(e, p, nPredict);
      if (k === 0) continue; // cold
      evalSys[i] += p.length - r.cached;
      msSys[i] += r.ms;
    }
  }
  // (2) A conversation: part of the system prompt, then turns of (message, answer); each prompt is the whole history.
  const hist = engines.map(() => sys.slice(0, Math.floor(nSys / 3)));
  const evalChat = sizes.map(() => 0);
  const msChat = sizes.map(() => 0);
  for (let t = 0; t < nTurns; t++) {
    for (const [i, e] of engines.entries()) {
      const p = [...hist[i], ...tokens(nUser + t, 50 + t, V)];
      const r = await answer(e, p, nPredict);
      if (t > 0) {
        evalChat[i] += p.length - r.cached;
        msChat[i] += r.ms;
      }
      hist[i] = [...p, ...r.tokens];
    }
  }
  const kv = engines.map((e) => e.kvStats()!);
  for (const e of engines) {
    await e.kvFlush();
    await e.close();
  }
  // (3) Fresh engines on the same storages: a new user's request (whole pages only come back).
  const fresh = [];
  for (const [i, ps] of sizes.entries()) fresh.push(await createEngine({ model: path, threads, numCtx, kvPageSize: ps, kvStorage: storages[i] }));
  const pNew = [...sys, ...user(nUsers)];
  const rb: Awaited<ReturnType<typeof answer>>[] = [];
  for (const b of fresh) rb.push(await answer(b, pNew, 1));
  for (const b of fresh) await b.close();
  const perReq = (n: number, k: number) => (k > 0 ? (n / k).toFixed(1) : '—');
  const rows = sizes.map((ps, i) => [
    String(ps),
    perReq(evalSys[i], nUsers - 1),
    perReq(msSys[i], nUsers - 1),
    perReq(evalChat[i], nTurns - 1),
    perReq(msChat[i], nTurns - 1),
    String(pNew.length - rb[i].cached),
    rb[i].ms.toFixed(0),
    (kv[i].hot.bytes / 2 ** 20).toFixed(1),
    `${kv[i].partialHits}/${kv[i].tailHits}`,
  ]);
  console.log(
    formatTable(
      ['page size', 'shared sys: evaluated/req', 'TTFT ms', 'chat: evaluated/turn', 'TTFT ms', 'fresh engine, storage: evaluated', 'TTFT ms', 'KV MiB in use', 'partial/tail hits'],
      rows,
      ['r', 'r', 'r', 'r', 'r', 'r', 'r', 'r', 'r'],
    ),
  );
  // The least each request can evaluate: its own message (a turn also its previous answer's last token, which
  // was sampled but never run through the model).
  let leastSys = 0;
  for (let k = 1; k < nUsers; k++) leastSys += nUser + (k % 3);
  let leastChat = 0;
  for (let t = 1; t < nTurns; t++) leastChat += nUser + t + 1;
  console.log(
    `least possible: shared sys ${(leastSys / Math.max(1, nUsers - 1)).toFixed(1)}/req, chat ${(leastChat / Math.max(1, nTurns - 1)).toFixed(1)}/turn, fresh engine ${nUser + (nUsers % 3)} + what the whole pages miss of the ${nSys} system tokens`,
  );
  console.log(
    `(${path}, ${threads} threads; system prompt ${nSys} tokens, ${nUsers} users; a ${nTurns}-turn conversation from the first ${Math.floor(nSys / 3)} system tokens; ` +
      `${nPredict} tokens per answer; per-request figures are means over the requests after the first)`,
  );
}

function types(f: Record<string, string>): void {
  const shape = SHAPES[(f.shape as ShapeName) ?? '1b'];
  const budget = Number(f.budget ?? 1024) * 2 ** 20;
  const headDim = shape.nEmbd / shape.nHead;
  const n = shape.nHeadKv * headDim;
  const rows: string[][] = [];
  for (const k of KV_TYPE_NAMES) {
    for (const v of [k]) {
      const perTok = shape.nLayer * (kvRowBytes(k as KvTypeName, n) + kvRowBytes(v as KvTypeName, n));
      rows.push([`${k}/${v}`, String(perTok), String(Math.floor(budget / perTok))]);
    }
  }
  const perTok = shape.nLayer * (kvRowBytes('q8_0', n) + kvRowBytes('q4_0', n));
  rows.push(['q8_0/q4_0', String(perTok), String(Math.floor(budget / perTok))]);
  console.log(formatTable(['K/V type', 'bytes per token', `tokens in ${f.budget ?? 1024} MiB`], rows));
  console.log(`(shape ${f.shape ?? '1b'}: ${shape.nLayer} layers, ${shape.nHeadKv} KV heads × ${headDim})`);
}

/** One process of `coldstart`: load with filesystem storage at `--dir`, time the first token, exit. */
async function coldstartChild(f: Record<string, string>): Promise<void> {
  const { openGuardedStorage } = await import('../src/storage/index.ts');
  const storage = await openGuardedStorage(f.dir);
  const t0 = performance.now();
  const e = await createEngine({ model: f.model, threads: Number(f.threads ?? 2), numCtx: Number(f.system) + 256, kvStorage: storage });
  const loadMs = performance.now() - t0;
  const V = e.info.nVocab;
  const r = await ttft(e, [...tokens(Number(f.system), 1, V), ...tokens(20, Number(f.user), V)]);
  await e.close(); // flushes the pages still queued for storage
  await storage.close();
  console.log(JSON.stringify({ loadMs, ttftMs: r.ms, cached: r.cached }));
}

async function coldstart(f: Record<string, string>): Promise<void> {
  const { spawnSync } = await import('node:child_process');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { fileURLToPath } = await import('node:url');
  const path = await modelPath(f, '1b');
  const dir = mkdtempSync(join(tmpdir(), 'tessera-coldstart-'));
  const nSys = f.system ?? '2000';
  const run = (user: number) => {
    const args = [fileURLToPath(import.meta.url), 'coldstart-child', '--model', path, '--dir', dir, '--system', nSys, '--user', String(user), '--threads', f.threads ?? '2'];
    const r = spawnSync(process.execPath, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`coldstart child failed: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { loadMs: number; ttftMs: number; cached: number };
  };
  const a = run(2);
  const b = run(3);
  rmSync(dir, { recursive: true, force: true });
  console.log(
    formatTable(
      ['process', 'prompt tokens', 'from cache', 'load ms', 'TTFT ms'],
      [
        ['A (cold: empty storage)', String(Number(nSys) + 20), String(a.cached), a.loadMs.toFixed(0), a.ttftMs.toFixed(0)],
        ['B (fresh process, same storage)', String(Number(nSys) + 20), String(b.cached), b.loadMs.toFixed(0), b.ttftMs.toFixed(0)],
      ],
    ),
  );
  console.log(`TTFT ratio A/B: ${(a.ttftMs / b.ttftMs).toFixed(1)}× (${path}, filesystem storage, ${f.threads ?? 2} threads)`);
}

const [what, ...rest] = process.argv.slice(2);
const f = flags(rest);
if (what === 'prefix') await prefix(f);
else if (what === 'pagesize') await pagesize(f);
else if (what === 'types') types(f);
else if (what === 'chat') await chat(f);
else if (what === 'coldstart') await coldstart(f);
else if (what === 'coldstart-child') await coldstartChild(f);
else {
  console.error('usage: node dist/bench/kv.js prefix|pagesize|chat|types|coldstart [flags] (see bench/kv.ts)');
  process.exitCode = 2;
}
