/** Shapes shared by the benchmark driver (bench/run.ts) and the engine child processes (bench/peers/). */

export const ENGINE_NAMES = ['tessera', 'native', 'cuda', 'llamacpp', 'llamabench', 'wllama'] as const;
export type EngineName = (typeof ENGINE_NAMES)[number];

/** The prompt every engine evaluates: `tokens` (BOS first) is what `text` tokenizes to with the model's own vocabulary. */
export interface BenchPrompt {
  /** Token ids, length = nPrompt, tokens[0] = BOS. */
  tokens: number[];
  /** Text that llama.cpp tokenizes (with BOS added) to exactly `tokens`; used by engines that only take text (wllama). */
  text: string;
}

/** What the driver asks one engine child to do; passed as JSON in argv[2]. */
export interface EngineRequest {
  modelPath: string;
  threads: number;
  prompt: BenchPrompt;
  /** Single-token forward passes to time after the prefill (greedy, EOS ignored). */
  nPredict: number;
  /** Untimed full runs (prefill + decode) before the measured ones. */
  warmup: number;
  /** Measured runs; every sample is reported. */
  reps: number;
}

/** One measured run: prefill of the whole prompt in one batch, then nDecode single-token steps. */
export interface RunSample {
  prefillMs: number;
  decodeMs: number;
  nPrompt: number;
  nDecode: number;
}

/** What an engine child prints (as `RESULT_MARKER` + JSON on one stdout line). */
export interface EngineResult {
  engine: EngineName;
  /** Free-form: library version, runtime, backend details. */
  detail: string;
  loadMs: number;
  samples: RunSample[];
  /** Non-fatal oddities (e.g. prompt length mismatch) worth printing next to the numbers. */
  warnings: string[];
}

/** Prefix of the single stdout line that carries a child's JSON result; everything else on stdout is log. */
export const RESULT_MARKER = '@@BENCH_RESULT@@';
