/**
 * `npm run bench`: Tessera against llama.cpp (native, node-llama-cpp) and wllama (llama.cpp in WASM) on the same
 * synthetic GGUF files, prompt tokens and thread count, next to the machine's measured memory bandwidth.
 * Flags: bench/args.ts (USAGE) and bench/README.md. Results: tables on stdout, a JSON record in bench/out/.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { type BenchArgs, parseBenchArgs, USAGE } from './args.ts';
import { type BandwidthResult, measureBandwidth } from './bandwidth.ts';
import { buildPrompt, ENGINES, runEngine } from './engines.ts';
import { machineInfo, type MachineInfo } from './machine.ts';
import { type BenchModel, type ModelFacts, modelFacts, syntheticModel } from './models.ts';
import { repoRoot } from './paths.ts';
import { fmtNum, fmtRatio, formatTable } from './table.ts';
import type { BenchPrompt, EngineName, EngineRequest, EngineResult, RunSample } from './types.ts';

/** One engine on one model, reduced with the chosen statistic. */
interface EngineSummary {
  engine: EngineName;
  threads: number;
  prefillTokPerS: number;
  decodeTokPerS: number;
  /** decode tok/s ÷ (bandwidth ÷ bytes read per token); undefined without a bandwidth measurement. */
  decodeFractionOfBound: number | undefined;
  result: EngineResult;
}

interface ModelRecord {
  model: BenchModel;
  facts: ModelFacts;
  prompt: BenchPrompt;
  /** Decode ceiling: bandwidth at the benchmark's thread count ÷ bytes per token. */
  decodeBoundTokPerS: number | undefined;
  engines: EngineSummary[];
  errors: { engine: EngineName; threads: number; message: string }[];
}

const log = (msg: string): void => void process.stderr.write(`[bench] ${msg}\n`);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function reduce(samples: RunSample[], stat: BenchArgs['stat'], pick: (s: RunSample) => number): number {
  const xs = samples.map(pick);
  return stat === 'best' ? Math.max(...xs) : median(xs);
}

async function benchModel(model: BenchModel, args: BenchArgs, threadCounts: number[], engines: EngineName[], bw: BandwidthResult[]): Promise<ModelRecord> {
  const facts = await modelFacts(model.path);
  const childOpts = { timeoutMs: args.timeoutS * 1000, verbose: args.verbose };
  log(`${model.label}: building a ${args.nPrompt}-token prompt`);
  const prompt = await buildPrompt(model.path, args.nPrompt, childOpts);
  const bwAt = bw.find((b) => b.threads === args.threads);
  const decodeBound = bwAt ? (bwAt.gbPerS * 1e9) / facts.bytesPerToken : undefined;
  const record: ModelRecord = { model, facts, prompt, decodeBoundTokPerS: decodeBound, engines: [], errors: [] };
  for (const threads of threadCounts) {
    for (const name of engines) {
      const request: EngineRequest & Record<string, unknown> = {
        modelPath: model.path, threads, prompt, nPredict: args.nPredict, warmup: args.warmup, reps: args.reps,
        ...(name === 'wllama' ? { byteTokens: facts.byteTokens } : {}),
        ...(name === 'tessera' ? { wasmVariant: args.tesseraVariant } : {}),
      };
      log(`${model.label}: ${name}, ${threads} thread(s), ${args.warmup} warm-up + ${args.reps} timed runs`);
      try {
        const result = await runEngine(ENGINES[name], request, childOpts);
        const prefill = reduce(result.samples, args.stat, (s) => s.nPrompt / (s.prefillMs / 1000));
        const decode = reduce(result.samples, args.stat, (s) => s.nDecode / (s.decodeMs / 1000));
        log(`  prefill ${fmtNum(prefill)} tok/s, decode ${fmtNum(decode)} tok/s${result.warnings.length ? ` (${result.warnings.join('; ')})` : ''}`);
        record.engines.push({
          engine: name, threads, prefillTokPerS: prefill, decodeTokPerS: decode,
          decodeFractionOfBound: decodeBound && threads === args.threads ? decode / decodeBound : undefined,
          result,
        });
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        log(`  ${name} failed: ${message}`);
        record.errors.push({ engine: name, threads, message });
      }
    }
  }
  return record;
}

function comparisonTable(rec: ModelRecord, args: BenchArgs): string {
  const at = (e: EngineName): EngineSummary | undefined => rec.engines.find((s) => s.engine === e && s.threads === args.threads);
  const wl = at('wllama');
  const lc = at('llamacpp');
  const nb = at('llamabench');
  const vs = (s: EngineSummary, ref: EngineSummary | undefined, self: EngineName): string =>
    s.engine === self ? '—' : `${fmtRatio(s.prefillTokPerS, ref?.prefillTokPerS)} / ${fmtRatio(s.decodeTokPerS, ref?.decodeTokPerS)}`;
  const rows = rec.engines.map((s) => [
    ENGINES[s.engine].label,
    fmtNum(s.prefillTokPerS),
    fmtNum(s.decodeTokPerS),
    vs(s, wl, 'wllama'),
    vs(s, lc, 'llamacpp'),
    vs(s, nb, 'llamabench'),
    s.decodeFractionOfBound === undefined ? '—' : `${(100 * s.decodeFractionOfBound).toFixed(0)}%`,
  ]);
  for (const e of rec.errors) rows.push([ENGINES[e.engine].label, 'failed', '', '', '', '', '']);
  const header = `${rec.model.label}: ${(rec.facts.nParams / 1e9).toFixed(2)} B params, ${(rec.facts.fileBytes / 2 ** 20).toFixed(0)} MiB, ` +
    `${(rec.facts.bytesPerToken / 2 ** 20).toFixed(0)} MiB read per token, decode bound ${fmtNum(rec.decodeBoundTokPerS)} tok/s ` +
    `(${args.threads} threads, prompt ${rec.prompt.tokens.length}, ${args.nPredict} decode steps, ${args.stat} of ${args.reps})`;
  return `${header}\n${formatTable(
    ['engine', 'prefill tok/s', 'decode tok/s', 'vs wllama (pre / dec)', 'vs node-llama-cpp (pre / dec)', 'vs llama-bench (pre / dec)', 'decode % of bound'],
    rows,
    ['l', 'r', 'r', 'r', 'r', 'r', 'r'],
  )}${targetLine(at('tessera'), nb)}`;
}

/** Issue targets against native llama.cpp (llama-bench built here): Tessera-WASM decode ≥ 0.5×, prefill ≥ 0.25×. */
const NATIVE_TARGET = { prefill: 0.25, decode: 0.5 };

function targetLine(t: EngineSummary | undefined, native: EngineSummary | undefined): string {
  if (!t || !native) return '';
  const p = t.prefillTokPerS / native.prefillTokPerS;
  const d = t.decodeTokPerS / native.decodeTokPerS;
  const mark = (x: number, target: number) => `${x.toFixed(2)}× (target ≥ ${target}×: ${x >= target ? 'PASS' : 'FAIL'})`;
  return `\ntargets vs llama-bench: prefill ${mark(p, NATIVE_TARGET.prefill)}, decode ${mark(d, NATIVE_TARGET.decode)}`;
}

/** Target of the thread-scaling check: Tessera prefill at 2 threads vs 1. */
const SCALING_TARGET = 1.7;

function scalingTable(rec: ModelRecord, args: BenchArgs): { text: string; speedup: number | undefined } {
  const one = rec.engines.find((s) => s.threads === 1);
  const n = rec.engines.find((s) => s.threads === args.threads);
  const speedup = one && n ? n.prefillTokPerS / one.prefillTokPerS : undefined;
  const rows = [one, n].filter((s): s is EngineSummary => s !== undefined).map((s) => [String(s.threads), fmtNum(s.prefillTokPerS), fmtNum(s.decodeTokPerS)]);
  const text = `${rec.model.label}: Tessera thread scaling (${args.stat} of ${args.reps})\n` +
    `${formatTable(['threads', 'prefill tok/s', 'decode tok/s'], rows, ['r', 'r', 'r'])}\n` +
    `prefill speed-up ${args.threads} vs 1 thread: ${fmtRatio(n?.prefillTokPerS, one?.prefillTokPerS)}, ` +
    `decode: ${fmtRatio(n?.decodeTokPerS, one?.decodeTokPerS)}` +
    (args.threads === 2 && speedup !== undefined ? ` (target prefill ≥ ${SCALING_TARGET}×: ${speedup >= SCALING_TARGET ? 'PASS' : 'FAIL'})` : '');
  return { text, speedup };
}

function machineLines(m: MachineInfo, args: BenchArgs, bw: BandwidthResult[]): string {
  const lines = [
    `machine: ${m.cpuModel}, ${m.cores} cores (${m.simd.join(' ')}), ${m.memGiB} GiB, ${m.os}`,
    `runtimes: Node ${m.node}, Deno ${m.deno}, node-llama-cpp ${m.nodeLlamaCpp}, @wllama/wllama ${m.wllama}; threads used: ${args.threads}`,
    `load average at start: ${m.loadAvgAtStart.toFixed(2)}${m.loadAvgAtStart > m.cores * 0.25 ? '  ← other processes are running: numbers will be low and noisy' : ''}`,
  ];
  for (const b of bw) lines.push(`memory bandwidth (WASM SIMD streaming read, ${b.bufferBytes / 2 ** 20} MiB, best of ${b.passes.length}): ${b.gbPerS.toFixed(1)} GB/s on ${b.threads} thread(s)`);
  return lines.join('\n');
}

async function main(): Promise<void> {
  const args = parseBenchArgs(process.argv.slice(2));
  if (args.help) {
    console.log(USAGE);
    return;
  }
  const machine = machineInfo();
  const models: BenchModel[] = [];
  if (args.modelFiles.length) {
    for (const path of args.modelFiles) models.push({ label: path.split('/').pop() ?? path, path, type: 'file' });
  } else {
    for (const type of args.types) models.push(await syntheticModel(args.shape, type, log));
  }

  const bwThreads = [...new Set([1, args.threads])];
  let bandwidth: BandwidthResult[] = [];
  if (args.bandwidthMiB > 0) {
    log(`measuring memory bandwidth on ${bwThreads.join(' and ')} thread(s)`);
    bandwidth = await measureBandwidth(bwThreads, args.bandwidthMiB * 2 ** 20);
  }
  console.log(machineLines(machine, args, bandwidth));

  const threadCounts = args.scaling ? [...new Set([1, args.threads])] : [args.threads];
  const engines: EngineName[] = args.scaling ? ['tessera'] : args.engines;
  const records: ModelRecord[] = [];
  let scalingFailed = false;
  for (const model of models) {
    const rec = await benchModel(model, args, threadCounts, engines, bandwidth);
    records.push(rec);
    if (args.scaling) {
      const { text, speedup } = scalingTable(rec, args);
      console.log(`\n${text}`);
      if (args.threads === 2 && (speedup === undefined || speedup < SCALING_TARGET)) scalingFailed = true;
    } else {
      console.log(`\n${comparisonTable(rec, args)}`);
    }
    for (const s of rec.engines) for (const w of s.result.warnings) console.log(`  note (${s.engine}): ${w}`);
    for (const e of rec.errors) console.log(`  error (${e.engine}, ${e.threads} threads): ${e.message.split('\n')[0]}`);
  }
  console.log(`\nengines: ${[...new Set(records.flatMap((r) => r.engines.map((s) => `${s.engine}: ${s.result.detail}`)))].join('\n         ')}`);

  const outDir = args.outDir ?? join(repoRoot(), 'bench', 'out');
  mkdirSync(outDir, { recursive: true });
  const file = join(outDir, `${new Date().toISOString().replace(/[:.]/g, '-')}${args.scaling ? '-scaling' : ''}.json`);
  const loadAvgAtEnd = os.loadavg()[0];
  writeFileSync(file, `${JSON.stringify({ args, machine: { ...machine, loadAvgAtEnd }, bandwidth, models: records }, null, 2)}\n`);
  console.log(`\nrecord: ${file}`);
  if (scalingFailed) process.exitCode = 1;
}

await main();
