/** The library works the same from Node 20 (dist/), Bun and Deno (src/): same greedy tokens. */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeSyntheticLlama } from '../../src/synth/index.ts';
import { llama2VocabMetadata } from '../fixtures/vocab.ts';

const ROOT = join(import.meta.dirname, '../..');
const DIR = join(tmpdir(), 'tessera-runtimes');
const MODEL = join(DIR, 'tiny-q8.gguf');
const BIN = join(ROOT, 'node_modules/.bin');
const SCRIPT = 'test/runtime/generate-smoke.mjs';

function run(cmd: string, args: string[]): { tokens: number[]; text: string } {
  const out = execFileSync(cmd, args, { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return JSON.parse(out.trim().split('\n').pop()!);
}

describe('import { createEngine } from "tessera" on every runtime', () => {
  let node: { tokens: number[]; text: string };
  beforeAll(async () => {
    mkdirSync(DIR, { recursive: true });
    await writeSyntheticLlama(MODEL, { nEmbd: 128, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 256, type: 'Q8_0', seed: 7, tokenizer: llama2VocabMetadata() });
    // Node resolves 'tessera' to the compiled dist/ (npm test builds it first); Bun and Deno to src/.
    expect(existsSync(join(ROOT, 'dist/src/index.js')), 'run `npm run build` first').toBe(true);
    node = run(process.execPath, [SCRIPT, MODEL]);
  });

  it('Node generates 8 tokens', () => {
    expect(node.tokens).toHaveLength(8);
  });
  it('Bun gives the same tokens', () => {
    expect(run(join(BIN, 'bun'), [SCRIPT, MODEL]).tokens).toEqual(node.tokens);
  });
  it('Deno gives the same tokens', () => {
    expect(run(join(BIN, 'deno'), ['run', '-A', SCRIPT, MODEL]).tokens).toEqual(node.tokens);
  });
});
