/** Command-line flags of `npm run bench` (see bench/README.md). */
import { parseArgs } from 'node:util';
import { ValidationError } from '../src/errors.ts';
import { existsSync } from 'node:fs';
import { type BenchType, SHAPES, type ShapeName } from './models.ts';
import { llamaBenchPath } from './paths.ts';
import { ENGINE_NAMES, type EngineName } from './types.ts';

export interface BenchArgs {
  threads: number;
  engines: EngineName[];
  shape: ShapeName;
  types: BenchType[];
  /** Existing GGUF files to benchmark instead of the synthetic models. */
  modelFiles: string[];
  nPrompt: number;
  nPredict: number;
  warmup: number;
  reps: number;
  stat: 'median' | 'best';
  scaling: boolean;
  /** MiB read per bandwidth pass; 0 skips the measurement. */
  bandwidthMiB: number;
  timeoutS: number;
  outDir: string | undefined;
  tesseraVariant: 'auto' | 'simd' | 'relaxed';
  verbose: boolean;
  help: boolean;
}

export const USAGE = `npm run bench -- [flags]      (node dist/bench/run.js [flags])
  --threads N            threads for every engine (default 2)
  --engines a,b          of ${ENGINE_NAMES.join(',')} (default all; llamabench only once bench/build-llama-bench.sh has built it)
  --types T,T            synthetic weight types, of Q4_0,Q8_0,F16,BF16,F32,Q4_1,Q5_0,Q5_1,IQ4_NL,Q4_K,Q5_K,Q6_K,Q4_K_M,Q3_K,Q2_K,IQ4_XS (default Q4_0,Q4_K_M,Q8_0)
  --shape S              synthetic model shape: ${Object.keys(SHAPES).join(' | ')} (default 1b)
  --model PATH           benchmark this GGUF instead of synthetic models (repeatable)
  --prompt N             prompt tokens, evaluated in one batch (default 128)
  --predict N            decode steps timed after the prefill (default 64)
  --warmup N             untimed runs per engine and model (default 1)
  --reps N               timed runs per engine and model (default 3)
  --stat best|median     statistic over the timed runs (default best)
  --scaling              Tessera prefill and decode at 1 thread vs --threads (target: ≥ 1.7× prefill on 2)
  --bandwidth-mib N      buffer for the bandwidth measurement, 0 = skip (default 1024)
  --timeout S            limit per engine child, seconds (default 1800)
  --out DIR              where the JSON record goes (default bench/out)
  --tessera-variant V    auto | simd | relaxed (default auto)
  --verbose              stream the children's logs
  --help`;

function int(name: string, raw: string | undefined, dflt: number, min: number): number {
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new ValidationError(`--${name} must be an integer ≥ ${min}, got ${raw}`);
  return n;
}

function oneOf<T extends string>(name: string, raw: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(raw)) throw new ValidationError(`--${name}: ${raw} is not one of ${allowed.join(', ')}`);
  return raw as T;
}

export function parseBenchArgs(argv: string[]): BenchArgs {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      threads: { type: 'string' },
      engines: { type: 'string' },
      types: { type: 'string' },
      shape: { type: 'string' },
      model: { type: 'string', multiple: true },
      prompt: { type: 'string' },
      predict: { type: 'string' },
      warmup: { type: 'string' },
      reps: { type: 'string' },
      stat: { type: 'string' },
      scaling: { type: 'boolean' },
      'bandwidth-mib': { type: 'string' },
      timeout: { type: 'string' },
      out: { type: 'string' },
      'tessera-variant': { type: 'string' },
      verbose: { type: 'boolean' },
      help: { type: 'boolean' },
    },
  });
  const types = ['Q4_0', 'Q8_0', 'F16', 'BF16', 'F32', 'Q4_1', 'Q5_0', 'Q5_1', 'IQ4_NL', 'Q4_K', 'Q5_K', 'Q6_K', 'Q4_K_M', 'Q3_K', 'Q2_K', 'IQ4_XS'] as const;
  return {
    threads: int('threads', values.threads, 2, 1),
    engines: (values.engines ?? defaultEngines().join(',')).split(',').map((e) => oneOf('engines', e.trim(), ENGINE_NAMES)),
    shape: oneOf('shape', values.shape ?? '1b', Object.keys(SHAPES) as ShapeName[]),
    types: (values.types ?? 'Q4_0,Q4_K_M,Q8_0').split(',').map((t) => oneOf('types', t.trim().toUpperCase(), types)),
    modelFiles: values.model ?? [],
    nPrompt: int('prompt', values.prompt, 128, 2),
    nPredict: int('predict', values.predict, 64, 1),
    warmup: int('warmup', values.warmup, 1, 0),
    reps: int('reps', values.reps, 3, 1),
    stat: oneOf('stat', values.stat ?? 'best', ['median', 'best'] as const),
    scaling: values.scaling ?? false,
    bandwidthMiB: int('bandwidth-mib', values['bandwidth-mib'], 1024, 0),
    timeoutS: int('timeout', values.timeout, 1800, 1),
    outDir: values.out,
    tesseraVariant: oneOf('tessera-variant', values['tessera-variant'] ?? 'auto', ['auto', 'simd', 'relaxed'] as const),
    verbose: values.verbose ?? false,
    help: values.help ?? false,
  };
}

/** Every engine, without llamabench until bench/build-llama-bench.sh has built it, and without cuda (named only). */
function defaultEngines(): EngineName[] {
  return ENGINE_NAMES.filter((e) => (e !== 'llamabench' || existsSync(llamaBenchPath())) && e !== 'cuda');
}
