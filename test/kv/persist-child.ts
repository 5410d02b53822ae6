/**
 * One "process" of the persistence test (run by Bun, which runs TypeScript directly):
 * `bun test/kv/persist-child.ts <model> <storage dir> <prompt ids as JSON> [fs]` generates 8 greedy
 * tokens with the prefix cache in <storage dir> (the test's DirStorage, or with `fs` the product's
 * filesystem driver, src/storage/fs.ts; with `redis` <storage dir> is a redis:// URL), waits for the writes behind, prints
 * `{"tokens":[...],"cached":N,"promptTokens":N}` and exits.
 */
import { createEngine } from '../../src/index.ts';
import { FsStorage } from '../../src/storage/fs.ts';
import { createStorage } from '../../src/storage/index.ts';
import { DirStorage } from './dir-storage.ts';

const [model, dir, promptJson, driver] = process.argv.slice(2);
// `redis`: <storage dir> is a redis:// URL (the product's Redis driver, src/storage/redis.ts).
const storage = driver === 'fs' ? await FsStorage.open(dir) : driver === 'redis' ? await createStorage(dir) : new DirStorage(dir);
const e = await createEngine({ model, threads: 1, numCtx: 256, kvPageSize: 16, kvStorage: storage });
const gen = e.generate({ prompt: JSON.parse(promptJson) as number[], options: { temperature: 0, num_predict: 8 } });
const tokens: number[] = [];
for await (const c of gen) if (c.token >= 0) tokens.push(c.token);
await e.kvFlush();
await e.close();
await (storage as { close?: () => Promise<void> }).close?.();
console.log(JSON.stringify({ tokens, cached: gen.stats!.cachedTokens, promptTokens: gen.stats!.promptTokens }));
