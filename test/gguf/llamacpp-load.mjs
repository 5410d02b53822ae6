#!/usr/bin/env node
// Loads a GGUF with llama.cpp (node-llama-cpp@3.21.1 prebuilt CPU binaries) and reports what llama.cpp itself
// read from it, plus the next-token distribution at each position of a short prompt.
// Run as a child process with UV_THREADPOOL_SIZE=1 (see test/gguf/synth.test.ts).
// stdin: JSON { model, tokens: number[] }   stdout: JSON (see below)
import { getLlama } from 'node-llama-cpp';

const { model: modelPath, tokens } = JSON.parse(await new Promise((resolve) => {
  let s = '';
  process.stdin.on('data', (d) => (s += d));
  process.stdin.on('end', () => resolve(s));
}));
const llama = await getLlama({ gpu: false, build: 'never', usePrebuiltBinaries: true, skipDownload: true, logLevel: 'error' });
const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
const context = await model.createContext({ contextSize: 256, batchSize: 64, threads: 1, sequences: 1 });
const seq = context.getSequence();
const sampling = { temperature: 1, topK: 0, topP: 1, minP: 0, seed: 1 };
const out = await seq.controlledEvaluate(tokens.map((t) => [t, { generateNext: { probabilities: true, options: sampling } }]));
// per position: all log-probs, in token-id order
const logprobs = out.map((o) => {
  const row = new Array(model.tokens.length ?? 0);
  for (const [id, p] of o.next.probabilities) row[id] = Math.log(p);
  return row;
});
process.stdout.write(JSON.stringify({
  trainContextSize: model.trainContextSize,
  embeddingVectorSize: model.embeddingVectorSize,
  vocabularyType: model.vocabularyType,
  size: model.size,
  typeDescription: model.typeDescription,
  bos: model.tokens.bos,
  eos: model.tokens.eos,
  tokenizeHello: model.tokenize('hello world'),
  nVocab: logprobs[0].length,
  logprobs,
}));
await context.dispose();
await model.dispose();
await llama.dispose();
