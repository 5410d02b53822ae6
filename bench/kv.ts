/**
 * KV cache benchmarks (issue 4): `npm run build && node dist/bench/kv.js <what> [flags]`
 *
 *   prefix     time to first token of a request with a `--system`-token shared system prompt
 *              (default 2000) on a fresh engine, then of a second request sharing it (different
 *              user turn): the ratio is what the prefix index saves. Default model: 1b Q4_0.
 *   pagesize   prefill (`--prompt` tokens) and decode (`--predict` steps) at page sizes 16..256
 *              (Engine.bench, best of `--reps`). Default model: tiny Q4_0.
 *   types      bytes per token of each K/V type and the context that fits `--budget` MiB, for the
 *              model's shape (arithmetic from the page layout; no model run). Default: 1b.
 *
 * Flags: --shape 1b|tiny, --type Q4_0|Q8_0, --threads N, --model PATH, --system N, --prompt N,
 * --predict N, --reps N, --budget MiB. Prints a table; writes nothing else.
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
  const rows: string[][] = [];
  for (const ps of [16, 32, 64, 128, 256]) {
    const e = await createEngine({ model: path, threads, numCtx: nPrompt + nPredict + 256, kvPageSize: ps });
    const p = tokens(nPrompt, 4, e.info.nVocab);
    let pre = 0;
    let dec = 0;
    for (let r = 0; r <= reps; r++) {
      const s = await e.bench({ promptTokens: p, nPredict });
      if (r === 0) continue; // warm-up
      pre = Math.max(pre, (s.nPrompt / s.prefillMs) * 1000);
      dec = Math.max(dec, (s.nDecode / s.decodeMs) * 1000);
    }
    await e.close();
    rows.push([String(ps), pre.toFixed(1), dec.toFixed(1)]);
  }
  console.log(formatTable(['page size', 'prefill tok/s', 'decode tok/s'], rows));
  console.log(`(${path}, ${threads} threads, prompt ${nPrompt}, predict ${nPredict}, best of ${reps})`);
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

const [what, ...rest] = process.argv.slice(2);
const f = flags(rest);
if (what === 'prefix') await prefix(f);
else if (what === 'pagesize') await pagesize(f);
else if (what === 'types') types(f);
else {
  console.error('usage: node dist/bench/kv.js prefix|pagesize|types [flags] (see bench/kv.ts)');
  process.exitCode = 2;
}
