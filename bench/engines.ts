/** The engines the benchmark compares, each run in its own child process so that their threads don't share one. */
import { fileURLToPath } from 'node:url';
import { runChild } from './child.ts';
import { packageFile } from './paths.ts';
import type { EngineName, EngineRequest, EngineResult } from './types.ts';

export interface EngineRunner {
  name: EngineName;
  /** Column label in tables. */
  label: string;
  /** Command line and environment of the child; `request` is passed as JSON in argv. */
  command(request: EngineRequest & Record<string, unknown>): { cmd: string; args: string[]; env?: Record<string, string> };
}

/** Child scripts sit next to this file: .js when run from dist/, .ts when Bun or Deno run the sources. */
function peer(name: string): string {
  const ext = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return fileURLToPath(new URL(`./peers/${name}${ext}`, import.meta.url));
}

export const ENGINES: Record<EngineName, EngineRunner> = {
  tessera: {
    name: 'tessera',
    label: 'Tessera (wasm)',
    command: (req) => ({ cmd: process.execPath, args: [peer('tessera-child'), JSON.stringify(req)] }),
  },
  native: {
    name: 'native',
    label: 'Tessera (native)',
    // The same child, on the native backend (src/backend/native: the core as a shared library over koffi).
    command: (req) => ({ cmd: process.execPath, args: [peer('tessera-child'), JSON.stringify({ ...req, backend: 'native' })] }),
  },
  cuda: {
    name: 'cuda',
    label: 'Tessera (cuda)',
    // The same child, on the CUDA backend (src/backend/cuda); only when named (--engines), as it needs a GPU.
    command: (req) => ({ cmd: process.execPath, args: [peer('tessera-child'), JSON.stringify({ ...req, backend: 'cuda' })] }),
  },
  llamacpp: {
    name: 'llamacpp',
    label: 'llama.cpp (native)',
    // DESIGN.md §4: with libuv's default pool of 4, decode on 2 threads stalls on this 2-core machine.
    command: (req) => ({
      cmd: process.execPath,
      args: [peer('llamacpp-child'), JSON.stringify(req)],
      env: { UV_THREADPOOL_SIZE: '1' },
    }),
  },
  llamabench: {
    name: 'llamabench',
    label: 'llama-bench (native, -march=native)',
    command: (req) => ({ cmd: process.execPath, args: [peer('llamabench-child'), JSON.stringify(req)] }),
  },
  wllama: {
    name: 'wllama',
    label: 'wllama (wasm)',
    // Deno: wllama's wasm needs memory64 + JSPI and module workers (see peers/wllama-shims.ts).
    command: (req) => ({ cmd: packageFile('deno', 'deno'), args: ['run', '-A', peer('wllama-child'), JSON.stringify(req)] }),
  },
};

export async function runEngine(
  engine: EngineRunner,
  request: EngineRequest & Record<string, unknown>,
  opts: { timeoutMs: number; verbose: boolean },
): Promise<EngineResult> {
  const { cmd, args, env } = engine.command(request);
  return runChild<EngineResult>(cmd, args, { ...opts, env: { ...env, ...(opts.verbose ? { BENCH_VERBOSE: '1' } : {}) } });
}

/** Asks llama.cpp (through node-llama-cpp, vocabulary only) for a text of exactly nPrompt tokens and its ids. */
export async function buildPrompt(modelPath: string, nPrompt: number, opts: { timeoutMs: number; verbose: boolean }) {
  return runChild<{ text: string; tokens: number[] }>(
    process.execPath,
    [peer('llamacpp-child'), JSON.stringify({ kind: 'prompt', modelPath, nPrompt })],
    { ...opts, env: { UV_THREADPOOL_SIZE: '1' } },
  );
}
