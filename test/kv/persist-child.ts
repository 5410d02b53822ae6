/**
 * One "process" of the persistence test (run by Bun, which runs TypeScript directly):
 * `bun test/kv/persist-child.ts <model> <storage dir> <prompt ids as JSON>` generates 8 greedy
 * tokens with the prefix cache in <storage dir>, waits for the writes behind, prints
 * `{"tokens":[...],"cached":N,"promptTokens":N}` and exits.
 */
import { createEngine } from '../../src/index.ts';
import { DirStorage } from './dir-storage.ts';

const [model, dir, promptJson] = process.argv.slice(2);
const e = await createEngine({ model, threads: 1, numCtx: 256, kvPageSize: 16, kvStorage: new DirStorage(dir) });
const gen = e.generate({ prompt: JSON.parse(promptJson) as number[], options: { temperature: 0, num_predict: 8 } });
const tokens: number[] = [];
for await (const c of gen) if (c.token >= 0) tokens.push(c.token);
await e.kvFlush();
await e.close();
console.log(JSON.stringify({ tokens, cached: gen.stats!.cachedTokens, promptTokens: gen.stats!.promptTokens }));
