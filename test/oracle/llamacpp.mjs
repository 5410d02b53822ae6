#!/usr/bin/env node
// llama.cpp oracle (node-llama-cpp@3.21.1, prebuilt CPU binaries), run as a child process so that
// UV_THREADPOOL_SIZE=1 takes effect and a crash in native code can't take the test runner down.
//
// stdin: JSON { model, tokens: number[], topK?: 10, nPredict?: 0, threads?: 2, probsAll?: true, flashAttention?, batchSize?, kvTypeK?, kvTypeV? ('Q8_0', 'F16', …: llama.cpp's KV types) }
//     or JSON { model, embed: true, texts: string[], threads? } → { embeddings, tokens }
// stdout: JSON { top: [[id, logprob][]] per prompt position, greedy: number[], vocab: n }
import { getLlama } from 'node-llama-cpp';

const input = JSON.parse(await new Promise((resolve) => {
  let s = '';
  process.stdin.on('data', (d) => (s += d));
  process.stdin.on('end', () => resolve(s));
}));
const { model: modelPath, tokens, topK = 10, nPredict = 0, threads = 2, probsAll = true, flashAttention = false, batchSize, kvTypeK, kvTypeV } = input;

const llama = await getLlama({ gpu: false, build: 'never', usePrebuiltBinaries: true, skipDownload: true, logLevel: 'error' });
const model = await llama.loadModel({ modelPath, gpuLayers: 0, useMmap: true });

if (input.embed) {
  // Embedding mode: { texts } → { embeddings: number[][], tokens: number[][] } (pooled as the file says).
  const ctx = await model.createEmbeddingContext({ contextSize: input.contextSize ?? 512, threads });
  const embeddings = [];
  const tokenLists = [];
  for (const text of input.texts) {
    tokenLists.push(Array.from(model.tokenize(text, true)));
    embeddings.push(Array.from((await ctx.getEmbeddingFor(text)).vector));
  }
  process.stdout.write(JSON.stringify({ embeddings, tokens: tokenLists }));
  await ctx.dispose();
  await model.dispose();
  await llama.dispose();
  process.exit(0);
}
const context = await model.createContext({ contextSize: Math.max(256, tokens.length + nPredict + 8), batchSize: batchSize ?? Math.max(tokens.length, 64), threads, sequences: 1, flashAttention, ...(kvTypeK ? { experimentalKvCacheKeyType: kvTypeK } : {}), ...(kvTypeV ? { experimentalKvCacheValueType: kvTypeV } : {}) });
const seq = context.getSequence();

// Raw softmax: temperature 1, every filter disabled.
const sampling = { temperature: 1, topK: 0, topP: 1, minP: 0, seed: 1 };
const items = tokens.map((t, i) =>
  probsAll || i === tokens.length - 1 ? [t, { generateNext: { probabilities: true, options: sampling } }] : t,
);
const out = await seq.controlledEvaluate(items);
const top = [];
for (let i = 0; i < tokens.length; i++) {
  const probs = out[i]?.next?.probabilities;
  if (!probs) { top.push(null); continue; }
  const row = [];
  for (const [id, p] of probs) {
    row.push([id, Math.log(p)]);
    if (row.length >= topK) break;
  }
  top.push(row);
}

const greedy = [];
const greedyTop = [];
if (nPredict > 0) {
  // Greedy continuation, one token at a time from the last prompt token's distribution.
  let next = top[tokens.length - 1][0][0];
  for (let i = 0; i < nPredict; i++) {
    greedy.push(next);
    if (i === nPredict - 1) break;
    const r = await seq.controlledEvaluate([[next, { generateNext: { probabilities: true, options: sampling } }]]);
    const probs = r[0].next.probabilities;
    const row = [];
    for (const [id, p] of probs) { row.push([id, Math.log(p)]); if (row.length >= topK) break; }
    greedyTop.push(row);
    next = row[0][0];
  }
}
process.stdout.write(JSON.stringify({ top, greedy, greedyTop, vocab: model.tokens ? undefined : undefined }));
await context.dispose();
await model.dispose();
await llama.dispose();
