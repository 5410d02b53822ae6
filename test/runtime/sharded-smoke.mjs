/**
 * Smoke test for one runtime: a tiny model forced over several WASM instances (`maxShardBytes`), greedy
 * tokens printed as JSON with the number of instances. Run by test/engine/sharded-runtimes.test.ts under Bun and Deno.
 */
import { createEngine } from 'tessera';

const [model, maxShardBytes] = process.argv.slice(2);
const engine = await createEngine({ model, threads: 2, numCtx: 64, numBatch: 16, maxShardBytes: Number(maxShardBytes) });
const tokens = [];
for await (const c of engine.generate({ prompt: [1, 17, 42, 99, 7], options: { temperature: 0, num_predict: 8 } })) if (c.token >= 0) tokens.push(c.token);
const shards = engine.info.shards;
await engine.close();
console.log(JSON.stringify({ shards, tokens }));
