/**
 * Models and apps for the server tests: a tiny llama (Q8_0, tiny SentencePiece vocabulary, no chat template
 * so chats use ChatML) and a tiny BERT encoder (WordPiece vocabulary) in a fresh models directory.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GgufValueType, gv } from '../../src/gguf/types.ts';
import { createApp, type AppOptions } from '../../src/server/app.ts';
import { tinyLlamaVocab, writeSyntheticBert, writeSyntheticLlama } from '../../src/synth/index.ts';

/** A WordPiece vocabulary with BERT's special ids: [UNK] 100, [CLS] 101, [SEP] 102. */
export function tinyBertVocab() {
  const tokens: string[] = ['[PAD]'];
  for (let i = 1; i < 100; i++) tokens.push(`[unused${i}]`);
  tokens.push('[UNK]', '[CLS]', '[SEP]', '[MASK]');
  for (const w of ['hello', 'world', 'the', 'a', 'cat', 'dog', 'sat', 'on', 'mat', 'is', '##s', '.', ',', '!', '?']) tokens.push(w);
  for (let c = 97; c <= 122; c++) tokens.push(String.fromCharCode(c), `##${String.fromCharCode(c)}`);
  const types = Int32Array.from(tokens.map((t) => (t.startsWith('[') ? 3 : 1)));
  return {
    'tokenizer.ggml.model': gv.str('bert'),
    'tokenizer.ggml.tokens': gv.arr(GgufValueType.STRING, tokens),
    'tokenizer.ggml.token_type': gv.arr(GgufValueType.INT32, types),
    'tokenizer.ggml.unknown_token_id': gv.u32(100),
    'tokenizer.ggml.cls_token_id': gv.u32(101),
    'tokenizer.ggml.seperator_token_id': gv.u32(102),
    'tokenizer.ggml.padding_token_id': gv.u32(0),
  };
}

export const LLAMA_SPEC = { nEmbd: 64, nLayer: 1, nHead: 2, nHeadKv: 1, nFf: 128, nCtx: 4096, type: 'Q8_0', seed: 5 } as const;

/** A fresh models directory holding tiny.gguf (llama) and embed.gguf (bert). */
export async function makeModelsDir(name: string): Promise<string> {
  const dir = join(tmpdir(), `tessera-server-${name}-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  await writeSyntheticLlama(join(dir, 'tiny.gguf'), { ...LLAMA_SPEC, tokenizer: tinyLlamaVocab() });
  await writeSyntheticBert(join(dir, 'embed.gguf'), { nEmbd: 32, nLayer: 1, nHead: 2, nFf: 64, seed: 3, tokenizer: tinyBertVocab() });
  return dir;
}

/** An app over `dir` with logs off and one thread. */
export function testApp(dir: string, opts: AppOptions = {}) {
  return createApp({ modelsDir: dir, threads: 1, log: 'off', keepAliveMs: 5 * 60e3, storage: 'memory', ...opts });
}

export type TestApp = ReturnType<typeof testApp>;

export const post = (app: TestApp, path: string, body: unknown, headers: Record<string, string> = {}) =>
  app.request(path, { method: 'POST', body: typeof body === 'string' ? body : JSON.stringify(body), headers: { 'content-type': 'application/json', ...headers } });

/** Parses an NDJSON body. */
export const ndjson = async (res: Response) => (await res.text()).trim().split('\n').map((l) => JSON.parse(l));

/** Parses an SSE body into its data payloads ('[DONE]' kept as a string). */
export const sseData = async (res: Response) =>
  (await res.text())
    .split('\n\n')
    .filter((e) => e.startsWith('data: '))
    .map((e) => e.slice(6))
    .map((d) => (d === '[DONE]' ? d : JSON.parse(d)));
