/**
 * The golden end-to-end suite, shared by the test/e2e/*-vs-llamacpp tests: a synthetic GGUF per model,
 * our logits at every position of a fixed 64-token prompt and a 32-token greedy continuation, against
 * llama.cpp (node-llama-cpp 3.21.1) on the same file.
 *
 * Per model:
 * - the argmax agrees at every position, except where llama.cpp's top two log-probs are within the
 *   bound of each other (a near-tie; counted and reported);
 * - max |Δ log-prob| over llama.cpp's top 10 ≤ the bound;
 * - the greedy continuation is identical, unless a near-tie is reached first, and then the first
 *   divergence must be at that near-tie.
 * The bound is the model's `tol`, or with `spreadBound`, max(tol, 1.25 × llama.cpp's own spread), the
 * spread being llama.cpp with flash attention against llama.cpp without it (the path we follow) on the
 * same file; that spread is measured and reported for every model.
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine, type Engine, type EngineOptions } from '../../src/index.ts';
import { type SynthLlamaSpec, writeSyntheticLlama } from '../../src/synth/index.ts';
import { runLlamaCpp, type OracleResult } from './llamacpp.ts';
import { commonPrefix, comparePrompt, greedyDistribution, nearTie } from './logit-compare.ts';

export interface GoldenModel {
  label: string;
  spec: SynthLlamaSpec;
  tol: number;
  /** Bound = max(tol, 1.25 × llama.cpp's flash-attention spread) instead of tol. */
  spreadBound?: boolean;
}

const PROMPT_LEN = 64;
const N_PREDICT = 32;
const THREADS = 2;

/** BOS, then ids drawn from ordinary Llama-2 tokens with a simple LCG. */
export function goldenPrompt(): number[] {
  const out = [1];
  let s = 12345;
  while (out.length < PROMPT_LEN) {
    s = (s * 1103515245 + 12345) >>> 0;
    out.push(300 + (s % 29000));
  }
  return out;
}

/** max |Δ log-prob| between two oracle runs over the first one's top-k. */
function spreadOf(a: OracleResult, b: OracleResult): number {
  let d = 0;
  for (let i = 0; i < a.top.length; i++) {
    const m = new Map(b.top[i]);
    for (const [id, lp] of a.top[i]) if (m.has(id)) d = Math.max(d, Math.abs(m.get(id)! - lp));
  }
  return d;
}

/** `engineOptions`: added to every createEngine call (e.g. another backend's factory). */
export function describeGolden(title: string, dirName: string, models: GoldenModel[], engineOptions: Partial<EngineOptions> = {}): void {
  const dir = join(tmpdir(), dirName);
  const reports: Record<string, unknown>[] = [];
  describe(title, () => {
    beforeAll(() => mkdirSync(dir, { recursive: true }));
    afterAll(() => console.table(reports));

    describe.each(models)('$label', (m) => {
      const path = join(dir, `${m.label}.gguf`);
      const tokens = goldenPrompt();
      let engine: Engine;
      let oracle: OracleResult;
      let bound = m.tol;
      const report: Record<string, unknown> = { model: m.label };

      beforeAll(async () => {
        await writeSyntheticLlama(path, m.spec);
        let fa: OracleResult;
        [engine, oracle, fa] = await Promise.all([
          createEngine({ model: path, threads: THREADS, logitRows: PROMPT_LEN, numCtx: 256, backend: 'wasm', ...engineOptions }),
          runLlamaCpp({ model: path, tokens, topK: 10, nPredict: N_PREDICT, threads: THREADS }),
          runLlamaCpp({ model: path, tokens, topK: 10, threads: THREADS, flashAttention: true }),
        ]);
        const spread = spreadOf(oracle, fa);
        if (m.spreadBound) bound = Math.max(m.tol, 1.25 * spread);
        Object.assign(report, { llamacppFaSpread: spread, bound });
        reports.push(report);
      });
      afterAll(async () => engine?.close());

      it('matches llama.cpp log-probs and argmax at every prompt position', async () => {
        const r = comparePrompt(await engine.evaluate(tokens), oracle, bound);
        Object.assign(report, r);
        expect(r.argmaxMismatches).toBe(0);
        expect(r.maxDiff).toBeLessThanOrEqual(bound);
      });

      it('continues greedily exactly like llama.cpp for 32 tokens (up to a near-tie)', async () => {
        const gen = engine.generate({ prompt: tokens, options: { temperature: 0, num_predict: N_PREDICT, seed: 1 } });
        const ours: number[] = [];
        for await (const c of gen) if (c.token >= 0) ours.push(c.token);
        const theirs = oracle.greedy;
        const same = commonPrefix(ours, theirs);
        report.greedySame = same;
        if (same === N_PREDICT) {
          expect(ours).toEqual(theirs);
        } else if (gen.doneReason === 'stop' && same === ours.length) {
          // We stopped at an end-of-generation token: llama.cpp must have produced it too.
          expect(engine.tokenizer.isEog(theirs[same])).toBe(true);
        } else {
          const dist = greedyDistribution(oracle, tokens.length, same);
          const tie = nearTie(dist, bound);
          report.divergedAtNearTie = tie;
          expect(tie, `diverged at step ${same}: ours ${ours[same]}, llama.cpp ${theirs[same]} (top ${JSON.stringify(dist.slice(0, 3))})`).toBe(true);
        }
      });
    });
  });
}
