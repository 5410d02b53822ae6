/**
 * Smoke test for one runtime: `import { createEngine } from 'tessera'` (package self-reference), load a
 * tiny synthetic model, generate greedily, print the tokens as JSON. Run by test/engine/runtimes.test.ts
 * under Node (compiled, dist/), Bun and Deno (TypeScript sources).
 */
import { createEngine } from 'tessera';

const model = process.argv[2];
const engine = await createEngine({ model, threads: 2 });
const tokens = [];
let text = '';
for await (const c of engine.generate({ prompt: 'Hello world', raw: true, options: { temperature: 0, num_predict: 8 } })) {
  tokens.push(c.token);
  text += c.text;
}
await engine.close();
console.log(JSON.stringify({ tokens, text }));
