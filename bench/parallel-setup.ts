/**
 * What bench/parallel.ts and bench/parallel-trace.ts share: their `--name value` flags, the clients' deterministic
 * prompts, and the HTTP server they stream from (a real socket, the model as a loose file of a fresh models directory).
 */
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import type { BackendRequest } from '../src/hardware/select.ts';
import { createApp } from '../src/server/app.ts';

/** `--name value` pairs (a flag without a value reads as ''). */
export function flags(argv: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    if (!argv[i].startsWith('--')) continue;
    out[argv[i].slice(2)] = argv[i + 1] ?? '';
    i++;
  }
  return out;
}

/** Deterministic token ids in [3, nVocab) (library clients' prompts). */
export function tokens(n: number, seed: number, nVocab: number): number[] {
  return Array.from({ length: n }, (_, i) => 3 + ((i * 7919 + seed * 104729 + ((i * i) % 97)) % (nVocab - 3)));
}

/** HTTP client `k`'s prompt (raw text). */
export const clientPrompt = (k: number): string => `Client ${k} asks: once upon a time, in a land far away, there was`;

export interface BenchServer {
  base: string;
  app: ReturnType<typeof createApp>;
  close(): Promise<void>;
}

/** The server on 127.0.0.1 (any free port) with the model at `path` as `bench`; `close` also removes its directory. */
export async function startBenchServer(path: string, opts: { threads: number; numParallel: number; backend: BackendRequest }): Promise<BenchServer> {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-bench-parallel-'));
  symlinkSync(path, join(dir, 'bench.gguf'));
  const app = createApp({ modelsDir: dir, ollamaModelsDir: undefined, ...opts, log: 'off', storage: 'off', keepAliveMs: Infinity });
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
  });
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    app,
    close: async () => {
      await new Promise<void>((r) => server.close(() => r()));
      await app.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
