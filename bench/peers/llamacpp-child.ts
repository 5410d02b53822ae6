/**
 * llama.cpp engine child (node-llama-cpp, prebuilt CPU binaries). Run by bench/run.ts with UV_THREADPOOL_SIZE=1:
 * with libuv's default pool of 4, decode on 2 threads stalls on a 2-core machine (DESIGN.md §4).
 *
 * Requests (argv[2], JSON):
 *   EngineRequest                          → EngineResult (prefill = the prompt in one batch, decode = nPredict single-token steps)
 *   { kind: 'prompt', modelPath, nPrompt } → BenchPrompt (a text whose tokens with BOS number exactly nPrompt)
 */
import { getLlama, LlamaLogLevel, type LlamaContextSequence, type LlamaModel, type Token } from 'node-llama-cpp';
import { readRequest, writeResult } from './protocol.ts';
import { packageVersion } from '../paths.ts';
import type { BenchPrompt, EngineRequest, EngineResult, RunSample } from '../types.ts';

interface PromptRequest {
  kind: 'prompt';
  modelPath: string;
  nPrompt: number;
}

/** Plain prose the prompt is cut from; repeated as needed. */
const PASSAGE =
  'The river runs past the old mill and under the stone bridge, where the children of the village gather ' +
  'in the summer to fish and to watch the boats go by. In the autumn the leaves turn red and gold, and the ' +
  'farmers bring their apples to the market in the square. Every evening the baker opens his window and the ' +
  'smell of fresh bread fills the narrow streets. The teacher walks her dog along the water, counting the ' +
  'ducks and waving to the fishermen who are mending their nets. When winter comes the river freezes at the ' +
  'edges, the mill wheel stops, and the whole village waits by the fire for the first warm day of spring.';

const llama = await getLlama({
  gpu: false,
  build: 'never',
  usePrebuiltBinaries: true,
  skipDownload: true,
  logLevel: LlamaLogLevel.warn,
});

const request = readRequest<EngineRequest | PromptRequest>();
if ('kind' in request && request.kind === 'prompt') {
  const model = await llama.loadModel({ modelPath: request.modelPath, vocabOnly: true });
  writeResult(buildPrompt(model, request.nPrompt));
} else {
  writeResult(await bench(request as EngineRequest));
}
await llama.dispose();

/** Adds words of PASSAGE while the token count (BOS included) stays ≤ n, skipping words that would overshoot. */
function buildPrompt(model: LlamaModel, n: number): BenchPrompt {
  const bos = model.tokens.bos;
  if (bos === null) throw new Error('model has no BOS token');
  const words = PASSAGE.split(' ');
  let text = '';
  let tokens: Token[] = [bos];
  for (let i = 0, skipped = 0; tokens.length < n; i++) {
    if (skipped > words.length) throw new Error(`cannot build a prompt of exactly ${n} tokens`);
    const next = text === '' ? words[i % words.length] : `${text} ${words[i % words.length]}`;
    const nextTokens = [bos, ...model.tokenize(next)];
    if (nextTokens.length > n) {
      skipped++;
      continue;
    }
    text = next;
    tokens = nextTokens;
    skipped = 0;
  }
  return { text, tokens: tokens.map(Number) };
}

async function bench(req: EngineRequest): Promise<EngineResult> {
  const t0 = performance.now();
  const model = await llama.loadModel({ modelPath: req.modelPath, defaultContextFlashAttention: true });
  const nPrompt = req.prompt.tokens.length;
  const context = await model.createContext({
    contextSize: nPrompt + req.nPredict + 64,
    batchSize: Math.max(512, nPrompt),
    threads: { ideal: req.threads, min: req.threads },
    sequences: 1,
  });
  const seq = context.getSequence();
  const loadMs = performance.now() - t0;
  const prompt = req.prompt.tokens as Token[];
  const samples: RunSample[] = [];
  for (let r = 0; r < req.warmup + req.reps; r++) {
    const sample = await runOnce(seq, prompt, req.nPredict);
    if (r >= req.warmup) samples.push(sample);
  }
  const warnings: string[] = [];
  const fa = context.flashAttention ? 'flash-attn on' : 'flash-attn off';
  await context.dispose();
  await model.dispose();
  return {
    engine: 'llamacpp',
    detail: `node-llama-cpp ${packageVersion('node-llama-cpp')} (llama.cpp ${llama.llamaCppRelease.release}), CPU ${llama.buildType} build, ${fa}`,
    loadMs,
    samples,
    warnings,
  };
}

/** Prefill: the whole prompt in one batch, sampling one greedy token from the last position. Decode: nPredict single-token steps. */
async function runOnce(seq: LlamaContextSequence, prompt: Token[], nPredict: number): Promise<RunSample> {
  await seq.clearHistory();
  const greedy = { generateNext: { token: true, options: { temperature: 0 } } } as const;
  const input = prompt.map((t, i) => (i === prompt.length - 1 ? ([t, greedy] as const) : t));
  const t0 = performance.now();
  const out = await seq.controlledEvaluate(input as Parameters<LlamaContextSequence['controlledEvaluate']>[0]);
  const prefillMs = performance.now() - t0;
  let next = out[prompt.length - 1]?.next.token;
  const t1 = performance.now();
  for (let i = 0; i < nPredict; i++) {
    if (next == null) throw new Error(`no token sampled at decode step ${i}`);
    const step = await seq.controlledEvaluate([[next, greedy]]);
    next = step[0]?.next.token;
  }
  const decodeMs = performance.now() - t1;
  return { prefillMs, decodeMs, nPrompt: prompt.length, nDecode: nPredict };
}
