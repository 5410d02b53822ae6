/**
 * The prefix cache outlives the process: process A (Bun) evaluates a prompt with a storage
 * directory and exits; process B, fresh, on the same directory, answers the same prompt
 * evaluating only what follows the last full page (prompt_eval_count = promptTokens − cached),
 * with A's greedy tokens. The pages on disk are safetensors files whose header this test parses
 * itself (dtype, shape, offsets, metadata).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RedisServer, redisRequired, redisServerBinary } from '../helpers/redis-server.ts';
import { tinyLlamaVocab, writeSyntheticLlama } from '../../src/synth/index.ts';

const ROOT = join(import.meta.dirname, '../..');
const DIR = join(tmpdir(), 'tessera-kv-persist');
const MODEL = join(DIR, 'llama.gguf');
const STORE = join(DIR, 'store');

function child(prompt: number[], store = STORE, driver = 'dir'): { tokens: number[]; cached: number; promptTokens: number } {
  const out = execFileSync(join(ROOT, 'node_modules/.bin/bun'), ['test/kv/persist-child.ts', MODEL, store, JSON.stringify(prompt), driver], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return JSON.parse(out.trim().split('\n').pop()!);
}

beforeAll(async () => {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  await writeSyntheticLlama(MODEL, { nEmbd: 256, nLayer: 2, nHead: 8, nHeadKv: 2, nFf: 768, residualScale: 0.15, qkScale: 0.5, type: 'Q8_0', seed: 21, tokenizer: tinyLlamaVocab() });
});

it('process B reuses the pages process A wrote: only the new tokens are evaluated, same output', () => {
  const prompt = Array.from({ length: 69 }, (_, i) => 3 + ((i * 37 + 11) % 250)); // 4 full pages of 16 + 5
  const a = child(prompt);
  expect(a.cached).toBe(0);
  // A's pages on disk: 4 prompt pages and those its 8 generated tokens filled (69 + 7 < 80: none).
  const files = readdirSync(STORE);
  expect(files.length).toBe(4);
  const buf = readFileSync(join(STORE, files[0]));
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  expect(header.k.dtype).toBe('F16');
  expect(header.k.shape).toEqual([2, 16, 64]); // [n_layer][page_size][n_head_kv·head_dim]
  expect(header.v.data_offsets).toEqual([2 * 16 * 64 * 2, 2 * 2 * 16 * 64 * 2]);
  expect(buf.length).toBe(8 + n + 2 * 2 * 16 * 64 * 2);
  expect(header.__metadata__.kv_type_k).toBe('f16');
  expect(Number(header.__metadata__.token_end) - Number(header.__metadata__.token_start)).toBe(16);

  const b = child(prompt);
  expect(b.cached).toBe(64);
  expect(b.promptTokens - b.cached).toBe(5);
  expect(b.tokens).toEqual(a.tokens);
});

it('the same through the filesystem driver (src/storage/fs.ts)', () => {
  const store = join(DIR, 'fs-store');
  const prompt = Array.from({ length: 37 }, (_, i) => 3 + ((i * 53 + 5) % 250)); // 2 full pages + 5
  const a = child(prompt, store, 'fs');
  const b = child(prompt, store, 'fs');
  expect(a.cached).toBe(0);
  expect(b.cached).toBe(32);
  expect(b.tokens).toEqual(a.tokens);
});

// Stateless replicas sharing one Redis: A and B are separate processes with nothing in common but the URL.
let redis: RedisServer | undefined;
afterAll(async () => {
  await redis?.dispose();
});
it.skipIf(!redisServerBinary && !redisRequired)('the same through one Redis shared by both processes (src/storage/redis.ts)', async () => {
  redis = await RedisServer.start();
  const prompt = Array.from({ length: 53 }, (_, i) => 3 + ((i * 29 + 7) % 250)); // 3 full pages + 5
  const a = child(prompt, `${redis.url}/0?prefix=persist:`, 'redis');
  const b = child(prompt, `${redis.url}/0?prefix=persist:`, 'redis');
  expect(a.cached).toBe(0);
  expect(b.cached).toBe(48);
  expect(b.promptTokens - b.cached).toBe(5);
  expect(b.tokens).toEqual(a.tokens);
});
