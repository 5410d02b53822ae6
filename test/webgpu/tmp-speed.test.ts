import { it } from 'vitest';
import { createEngine } from '../../src/index.ts';
import { createWebGpuBackend } from '../../src/backend/webgpu/index.ts';
import { writeSyntheticLlama } from '../../src/synth/index.ts';
import { llama2VocabMetadata } from '../fixtures/vocab.ts';
it('speed', async () => {
  const path = '/tmp/wgpu-speed-q8.gguf';
  await writeSyntheticLlama(path, { nEmbd: 256, nLayer: 2, nHead: 8, nHeadKv: 2, nFf: 768, type: 'Q8_0', seed: 42, tokenizer: llama2VocabMetadata() });
  for (const kind of ['webgpu', 'wasm']) {
    const e = await createEngine({ model: path, threads: 2, logitRows: 64, numCtx: 256, ...(kind === 'webgpu' ? { createBackend: () => createWebGpuBackend() } : {}) });
    const prompt = Array.from({ length: 64 }, (_, i) => 300 + i * 7);
    let t0 = performance.now();
    await e.evaluate(prompt);
    const tEval = performance.now() - t0;
    t0 = performance.now();
    let n = 0;
    for await (const c of e.generate({ prompt, options: { temperature: 0, num_predict: 16, seed: 1 } })) if (c.token >= 0) n++;
    console.log(kind, 'evaluate(64) ms', tEval.toFixed(0), 'generate', n, 'tokens ms', (performance.now() - t0).toFixed(0));
    await e.close();
  }
}, 600_000);
