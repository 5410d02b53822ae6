// Sampler: the whole chain against the float64 reference chain, greedy, determinism,
// the empirical distribution at T = 1, and llama.cpp's penalty formula and window.
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../src/errors.ts';
import { resolveOptions, type GenerateOptions } from '../../src/sampling/options.ts';
import { PenaltyWindow } from '../../src/sampling/penalties.ts';
import { Sampler } from '../../src/sampling/sampler.ts';
import {
  mulberry32,
  randomLogits,
  refCands,
  refMinP,
  refPenalise,
  refProbs,
  refTopK,
  refTopP,
  refTypical,
} from './helpers.ts';

function sampler(n: number, o: GenerateOptions): Sampler {
  return new Sampler(n, resolveOptions(o));
}

describe('full chain vs the float64 reference (coin sweep)', () => {
  // Sweeping coin over a grid of G points, token i is chosen for a fraction of the grid within
  // 1/G of its probability; tokens outside the reference's survivors must never be chosen.
  const G = 10_000;
  const cases: GenerateOptions[] = [
    { temperature: 0.8 }, // Ollama defaults: top_k 40, top_p 0.9
    { temperature: 1.3, top_k: 0, top_p: 0.95 },
    { temperature: 0.5, top_k: 100, top_p: 1, min_p: 0.05 },
    { temperature: 1, top_k: 0, top_p: 1, typical_p: 0.7 },
    { temperature: 0.9, top_k: 60, typical_p: 0.9, top_p: 0.8, min_p: 0.02, repeat_penalty: 1.3, presence_penalty: 0.4, frequency_penalty: 0.2, repeat_last_n: 16 },
  ];
  for (const o of cases) {
    it(JSON.stringify(o), () => {
      const n = 2500; // > 2048: top_p with top_k off takes the bucketed path
      const rand = mulberry32(17);
      const logits = randomLogits(n, rand, 2.5);
      const history = Array.from({ length: 40 }, () => Math.floor(rand() * 30)); // hits the top tokens often
      const s = sampler(n, { ...o, seed: 1 });
      for (const t of history) s.accept(t);
      const r = resolveOptions(o);

      const window = history.slice(-r.repeat_last_n);
      const pen = refPenalise(logits, window, r.repeat_penalty, r.frequency_penalty, r.presence_penalty);
      let cands = refCands(pen);
      cands = refTopK(cands, r.top_k);
      cands = refTypical(cands, r.typical_p);
      cands = refTopP(cands, r.top_p);
      cands = refMinP(cands, r.min_p);
      const want = refProbs(cands, r.temperature);

      const before = logits.slice();
      const hits = new Map<number, number>();
      for (let j = 0; j < G; j++) {
        const t = s.sample(logits, (j + 0.5) / G);
        hits.set(t, (hits.get(t) ?? 0) + 1);
      }
      expect(logits).toEqual(before); // penalties undone
      for (const id of hits.keys()) expect(want.has(id), `token ${id} is not a survivor`).toBe(true);
      let maxDiff = 0;
      for (const [id, p] of want) maxDiff = Math.max(maxDiff, Math.abs((hits.get(id) ?? 0) / G - p));
      expect(maxDiff).toBeLessThanOrEqual(1 / G + 1e-6); // 1e-6: f32 rounding of penalised logits
    });
  }
});

describe('greedy', () => {
  it('temperature 0 picks the argmax, lowest id on ties, and draws nothing', () => {
    const n = 5000;
    const logits = randomLogits(n, mulberry32(3));
    let best = 0;
    for (let i = 1; i < n; i++) if (logits[i]! > logits[best]!) best = i;
    const s = sampler(n, { temperature: 0, seed: 9 });
    expect(s.sample(logits)).toBe(best);
    logits[4000] = logits[best]!;
    logits[10] = logits[best]!;
    expect(s.sample(logits)).toBe(Math.min(10, best));
  });
});

describe('determinism', () => {
  const n = 500;
  const logitsSeq = Array.from({ length: 50 }, (_, i) => randomLogits(n, mulberry32(100 + i), 1.5));
  function run(s: Sampler, count: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < count; i++) {
      const t = s.sample(logitsSeq[i % logitsSeq.length]!);
      s.accept(t);
      out.push(t);
    }
    return out;
  }
  const o: GenerateOptions = { temperature: 1.2, top_k: 0, top_p: 0.98, repeat_penalty: 1.1 };

  it('same seed → same 1,000 tokens; reset() replays them', () => {
    const a = sampler(n, { ...o, seed: 1234 });
    const b = sampler(n, { ...o, seed: 1234 });
    const seqA = run(a, 1000);
    expect(run(b, 1000)).toEqual(seqA);
    a.reset();
    expect(run(a, 1000)).toEqual(seqA);
    expect(new Set(seqA).size).toBeGreaterThan(50); // it really is sampling
  });

  it('different seeds differ; seed −1 picks a random seed', () => {
    const seqA = run(sampler(n, { ...o, seed: 1 }), 1000);
    const seqB = run(sampler(n, { ...o, seed: 2 }), 1000);
    const same = seqA.filter((t, i) => t === seqB[i]).length;
    expect(same).toBeLessThan(200);
    const r1 = sampler(n, { ...o, seed: -1 });
    const r2 = sampler(n, { ...o, seed: -1 });
    expect(r1.seed).not.toBe(r2.seed); // 2^-32 chance of a false failure
    expect(r1.seed).toBeGreaterThanOrEqual(0);
  });
});

describe('empirical distribution at T = 1, no filters', () => {
  it('100k samples match softmax: chi-square < 100 (49 dof, p ≈ 4e-5) and max |Δp| < 0.005', () => {
    const n = 50;
    const logits = randomLogits(n, mulberry32(77), 1);
    const p = refProbs(refCands(logits));
    const s = sampler(n, { temperature: 1, top_k: 0, top_p: 1, seed: 2024 });
    const N = 100_000;
    const counts = new Float64Array(n);
    for (let i = 0; i < N; i++) counts[s.sample(logits)]!++;
    let chi2 = 0;
    let maxDiff = 0;
    for (let i = 0; i < n; i++) {
      const e = N * p.get(i)!;
      chi2 += (counts[i]! - e) ** 2 / e;
      maxDiff = Math.max(maxDiff, Math.abs(counts[i]! / N - p.get(i)!));
    }
    expect(chi2).toBeLessThan(100);
    expect(maxDiff).toBeLessThan(0.005);
  });
});

describe('penalties', () => {
  it('PenaltyWindow applies llama.cpp’s formula to tokens in the window only, and restores', () => {
    const n = 64;
    const rand = mulberry32(8);
    const logits = randomLogits(n, rand, 2);
    const original = logits.slice();
    const w = new PenaltyWindow(n, 10);
    const history = Array.from({ length: 37 }, () => Math.floor(rand() * 20));
    for (const t of history) w.push(t);
    const window = history.slice(-10);
    for (const [repeat, freq, pres] of [[1.3, 0, 0], [1, 0.5, 0], [1, 0, 0.7], [1.7, 0.25, 1.5], [0.8, -0.1, -0.2]] as const) {
      w.apply(logits, repeat, freq, pres);
      const want = refPenalise(original, window, repeat, freq, pres);
      for (let id = 0; id < n; id++) {
        if (window.includes(id)) expect(logits[id]).toBeCloseTo(want[id]!, 5);
        else expect(logits[id]).toBe(original[id]); // outside the window: untouched
      }
      // both signs seen: positive logits are divided, negative multiplied
      w.restore(logits);
      expect(logits).toEqual(original);
    }
    for (let id = 0; id < n; id++) expect(w.count(id)).toBe(window.filter((t) => t === id).length);
    w.clear();
    expect(w.length).toBe(0);
    for (let id = 0; id < n; id++) expect(w.count(id)).toBe(0);
  });

  it('a repeated token loses greedy selection while in the window, and regains it after', () => {
    const logits = new Float32Array([2.0, 1.9, -1, -3]);
    const s = sampler(4, { temperature: 0, repeat_penalty: 1.1, repeat_last_n: 3 });
    expect(s.sample(logits)).toBe(0);
    s.accept(0); // 2.0 / 1.1 = 1.818 < 1.9
    expect(s.sample(logits)).toBe(1);
    s.accept(2);
    s.accept(3);
    expect(s.sample(logits)).toBe(1); // 0 still in the window [0, 2, 3]
    s.accept(3); // window [2, 3, 3]: 0 has left
    expect(s.sample(logits)).toBe(0);
  });

  it('negative logits are multiplied (made less likely), not divided', () => {
    const logits = new Float32Array([-1.0, -1.05]);
    const s = sampler(2, { temperature: 0, repeat_penalty: 1.1 });
    s.accept(0); // −1.0 · 1.1 = −1.1 < −1.05
    expect(s.sample(logits)).toBe(1);
  });

  it('frequency counts occurrences, presence counts once', () => {
    const logits = new Float32Array([3, 2.5, 0]);
    const freq = sampler(3, { temperature: 0, frequency_penalty: 0.3 });
    freq.accept(0); // 3 − 0.3 = 2.7 > 2.5
    expect(freq.sample(logits)).toBe(0);
    freq.accept(0); // 3 − 0.6 = 2.4 < 2.5
    expect(freq.sample(logits)).toBe(1);
    const pres = sampler(3, { temperature: 0, presence_penalty: 0.3 });
    pres.accept(0);
    pres.accept(0);
    pres.accept(0); // 3 − 0.3 = 2.7
    expect(pres.sample(logits)).toBe(0);
  });

  it('repeat_last_n −1 means num_ctx; 0 disables', () => {
    const logits = new Float32Array([2.0, 1.9, -5]);
    const all = sampler(3, { temperature: 0, repeat_penalty: 2, repeat_last_n: -1, num_ctx: 100 });
    all.accept(0);
    for (let i = 0; i < 99; i++) all.accept(2);
    expect(all.sample(logits)).toBe(1); // window of 100 still holds token 0: 2.0 / 2 < 1.9
    all.accept(2); // 101st token: 0 leaves the window
    expect(all.sample(logits)).toBe(0);
    const off = sampler(3, { temperature: 0, repeat_penalty: 2, repeat_last_n: 0 });
    off.accept(0);
    expect(off.sample(logits)).toBe(0);
  });
});

describe('argument checks', () => {
  it('rejects tokens outside the vocabulary and short logits', () => {
    const s = sampler(10, {});
    expect(() => s.accept(10)).toThrow(ValidationError);
    expect(() => s.accept(-1)).toThrow(ValidationError);
    expect(() => s.accept(1.5)).toThrow(ValidationError);
    expect(() => s.sample(new Float32Array(9))).toThrow(ValidationError);
    expect(() => new Sampler(0, resolveOptions({}))).toThrow(ValidationError);
  });
});

describe('speed', () => {
  // The test machine is shared (load often 4× its cores), so wall-clock time punishes long
  // operations (preempted) more than short ones. Bounds are therefore relative and in CPU time:
  // sample() against one plain pass over the logits (a running max), each summed over blocks
  // long enough (≥ 100 ms) for the kernel's CPU accounting to be accurate, interleaved.
  const n = 128_256;
  const logits = randomLogits(n, mulberry32(1), 3);
  let sink = 0;
  const pass = () => {
    let m = -Infinity;
    for (let i = 0; i < n; i++) if (logits[i]! > m) m = logits[i]!;
    sink += m;
  };
  const cpuMs = () => process.cpuUsage().user / 1000;
  /** CPU ms per call of f and of pass, from `blocks` interleaved blocks of `reps` calls each. */
  function perCall(f: () => void, reps: number, passReps: number, blocks = 3): { f: number; pass: number } {
    let tf = 0;
    let tp = 0;
    for (let b = 0; b < blocks; b++) {
      let t0 = cpuMs();
      for (let i = 0; i < reps; i++) f();
      tf += cpuMs() - t0;
      t0 = cpuMs();
      for (let i = 0; i < passReps; i++) pass();
      tp += cpuMs() - t0;
    }
    return { f: tf / (reps * blocks), pass: tp / (passReps * blocks) };
  }

  it('128k vocab, default options (top_k 40): within 8 plain passes over the logits', () => {
    const s = sampler(n, { seed: 5, repeat_penalty: 1.1 });
    for (let i = 0; i < 64; i++) s.accept(i * 7);
    for (let i = 0; i < 50; i++) s.accept(s.sample(logits)); // warm up
    const t = perCall(() => s.accept(s.sample(logits)), 300, 1000);
    console.log(`128k default: sample ${(t.f * 1e3).toFixed(0)} µs CPU, one pass ${(t.pass * 1e3).toFixed(0)} µs`);
    expect(t.f).toBeLessThan(8 * t.pass);
    expect(sink).not.toBe(0);
  });

  it('128k vocab, top_k 0 + top_p 0.9: within 200 plain passes (exp of every logit + histogram)', () => {
    const s = sampler(n, { seed: 5, top_k: 0, top_p: 0.9 });
    for (let i = 0; i < 10; i++) s.sample(logits);
    const t = perCall(() => s.sample(logits), 30, 1000);
    console.log(`128k top_k=0 top_p=0.9: sample ${(t.f * 1e3).toFixed(0)} µs CPU, one pass ${(t.pass * 1e3).toFixed(0)} µs`);
    expect(t.f).toBeLessThan(200 * t.pass);
  });
});
