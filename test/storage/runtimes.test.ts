/** The storage drivers (memory, fs, and Redis through ioredis) work the same under Bun and Deno as under Node. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeSafetensors } from '../../src/storage/safetensors.ts';
import { RedisServer, redisServerBinary } from '../helpers/redis-server.ts';

const ROOT = join(import.meta.dirname, '../..');
const BIN = join(ROOT, 'node_modules/.bin');
const SCRIPT = 'test/runtime/storage-smoke.ts';

describe('storage on Bun and Deno', () => {
  let server: RedisServer | undefined;
  const dirs: string[] = [];
  const bytes = new Uint8Array(24).map((_, i) => (i * 37 + 11) & 255);
  const size = (v: Parameters<typeof encodeSafetensors>[0]) => encodeSafetensors(v).length;
  const used = size({ tensors: [{ name: 'k', dtype: 'F16', shape: [3, 4], bytes }], meta: { model_digest: 'm', token_end: '3' } }) + size({ tensors: [], meta: {} });
  const drivers = () => ['memory', 'fs', ...(server ? ['redis'] : [])];

  beforeAll(async () => {
    if (redisServerBinary) server = await RedisServer.start();
  });
  afterAll(async () => {
    await server?.dispose();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  function run(cmd: string, args: string[]): Record<string, unknown>[] {
    const dir = mkdtempSync(join(tmpdir(), 'tessera-rt-'));
    dirs.push(dir);
    const out = execFileSync(cmd, [...args, SCRIPT, dir, ...(server ? [server.url] : [])], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
    return out.trim().split('\n').map((l) => JSON.parse(l));
  }
  const expected = () =>
    drivers().map((driver) => ({ driver, meta: { model_digest: 'm', token_end: '3' }, shape: [3, 4], hex: Buffer.from(bytes).toString('hex'), keys: ['kv/m/a', 'kv/m/b'], used, afterDelete: false }));

  it('Bun', () => {
    expect(run(join(BIN, 'bun'), [])).toEqual(expected());
  });
  it('Deno', () => {
    expect(run(join(BIN, 'deno'), ['run', '-A'])).toEqual(expected());
  });
});
