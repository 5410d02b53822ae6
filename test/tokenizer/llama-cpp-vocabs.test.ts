/**
 * llama.cpp's own vocab-only GGUFs (models/ggml-vocab-*.gguf in the llama.cpp source that node-llama-cpp
 * ships as a git bundle), converted by llama.cpp's convert_hf_to_gguf.py from the original Hugging Face
 * tokenizers: covers real SentencePiece scores (llama-spm) and pre-tokenizers beyond our npm vocabularies
 * (gpt-2, starcoder/refact with the collapsed-regex path) and WordPiece (bert-bge: BERT lowercasing, accent stripping). Strings: llama.cpp's test inputs (.inp) plus a
 * sample of our corpus; expected ids from node-llama-cpp on the same files.
 */
process.env.UV_THREADPOOL_SIZE = '1'; // before node-llama-cpp loads (see DESIGN.md §4)

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Llama } from 'node-llama-cpp';
import { openGguf } from '../../src/gguf/reader.ts';
import { createTokenizer } from '../../src/tokenizer/index.ts';
import { buildCorpus } from './corpus.ts';

const require = createRequire(import.meta.url);
const nlcMain = require.resolve('node-llama-cpp');
const bundle = join(nlcMain.slice(0, nlcMain.lastIndexOf(`${sep}dist${sep}`)), 'llama', 'gitRelease.bundle');
const hasGit = (() => {
  try {
    execFileSync('git', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

// llama-bpe and qwen2 are left out: same pre-tokenizers as the npm Llama 3 / Qwen3 vocabularies in conformance.test.ts.
const VOCABS = ['llama-spm', 'gpt-2', 'starcoder', 'bert-bge'];
const corpusSample = buildCorpus('llama3', 120, 99).filter((_, i) => i % 3 === 0);

describe.skipIf(!existsSync(bundle) || !hasGit)('llama.cpp reference vocabularies (skipped without git or the bundle)', () => {
  let dir: string;
  let llama: Llama;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'tessera-llvocab-'));
    execFileSync('git', ['clone', '-q', '--depth', '1', '--no-checkout', bundle, join(dir, 'src')], { stdio: 'ignore' });
    for (const v of VOCABS) {
      for (const ext of ['', '.inp']) {
        const name = `ggml-vocab-${v}.gguf${ext}`;
        writeFileSync(join(dir, name), execFileSync('git', ['-C', join(dir, 'src'), 'show', `HEAD:models/${name}`], { maxBuffer: 1 << 26 }));
      }
    }
    const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
    llama = await getLlama({ gpu: false, build: 'never', usePrebuiltBinaries: true, skipDownload: true, logLevel: LlamaLogLevel.error });
  }, 60_000);

  afterAll(async () => {
    await llama?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it.each(VOCABS)('%s: token ids and text match llama.cpp', async (v) => {
    const path = join(dir, `ggml-vocab-${v}.gguf`);
    const inputs = readFileSync(`${path}.inp`, 'utf8').split('\n__ggml_vocab_test__\n');
    const strings = [...inputs, ...corpusSample];
    const file = await openGguf(path);
    const tok = createTokenizer(file.metadata, { path });
    const model = await llama.loadModel({ modelPath: path, vocabOnly: true });
    try {
      const bad: string[] = [];
      for (const s of strings) {
        for (const parseSpecial of [true, false]) {
          const want = Array.from(model.tokenize(s, parseSpecial));
          const got = tok.encode(s, { addSpecial: false, parseSpecial });
          if (JSON.stringify(got) !== JSON.stringify(want)) bad.push(`${JSON.stringify(s).slice(0, 80)} (special ${parseSpecial}): ours ${got} llama.cpp ${want}`);
        }
        const ids = tok.encode(s);
        if (tok.decode(ids) !== model.detokenize(ids as never, true)) bad.push(`decode ${JSON.stringify(s).slice(0, 80)}`);
      }
      expect(bad.slice(0, 5)).toEqual([]);
      expect(tok.addBos).toBe(model.tokens.shouldPrependBosToken);
      expect(tok.bos).toBe(model.tokens.bos);
    } finally {
      await model.dispose();
    }
  }, 30_000);
});
