/**
 * Token sampler: llama.cpp's default chain
 *   penalties → top_k → typical_p → top_p → min_p → temperature → draw
 * with temperature ≤ 0 meaning greedy argmax of the penalised logits (ties: lowest id).
 * An optional LogitConstraint (structured output) first masks a copy of the logits, so every stage sees
 * only allowed tokens (what llama.cpp gets when it resamples with the grammar applied first).
 *
 * Everything is allocated in the constructor (O(n_vocab)); `sample` allocates nothing.
 * With top_k > 0 (Ollama's default is 40) one O(n_vocab) selection pass dominates; with top_k
 * disabled, top_p orders candidates progressively with a heap instead of sorting the vocabulary.
 *
 * @example
 *   const s = new Sampler(nVocab, resolveOptions({ temperature: 0.7, seed: 42 }));
 *   for (const t of promptTokens) s.accept(t);       // penalties see the prompt, as llama.cpp's server
 *   const token = s.sample(logits); s.accept(token);
 */
import { ValidationError } from '../errors.ts';
import { Candidates } from './candidates.ts';
import type { LogitConstraint } from './constraint.ts';
import { argmax, drawFromCandidates, minP, topP, typicalP } from './filters.ts';
import type { ResolvedOptions } from './options.ts';
import { PenaltyWindow } from './penalties.ts';
import { randomSeed, Xoshiro128 } from './prng.ts';

export class Sampler {
  readonly nVocab: number;
  readonly options: ResolvedOptions;
  private readonly cand: Candidates;
  /** null when penalties are disabled (window 0, or all three penalties neutral). */
  private readonly penalties: PenaltyWindow | null;
  private readonly rng: Xoshiro128;
  private currentSeed: number;
  /** Structured output: masks a copy of the logits before the chain; null without one. */
  private readonly constraint: LogitConstraint | null;
  /** [n_vocab] the masked copy of the logits (allocated only with a constraint). */
  private readonly masked: Float32Array | null;

  /** @param constraint optional: forbids tokens (−Infinity) before penalties and filters run. */
  constructor(nVocab: number, opts: ResolvedOptions, constraint?: LogitConstraint) {
    if (!Number.isInteger(nVocab) || nVocab <= 0) throw new ValidationError(`n_vocab must be a positive integer (got ${nVocab})`);
    this.nVocab = nVocab;
    this.options = opts;
    this.cand = new Candidates(nVocab);
    const window = opts.repeat_last_n === -1 ? opts.num_ctx : opts.repeat_last_n;
    const neutral = opts.repeat_penalty === 1 && opts.presence_penalty === 0 && opts.frequency_penalty === 0;
    this.penalties = window > 0 && !neutral ? new PenaltyWindow(nVocab, window) : null;
    this.currentSeed = opts.seed === -1 ? randomSeed() : opts.seed;
    this.rng = new Xoshiro128(this.currentSeed);
    this.constraint = constraint ?? null;
    this.masked = constraint ? new Float32Array(nVocab) : null;
  }

  /** The seed in use (a random one when the options said −1). */
  get seed(): number {
    return this.currentSeed;
  }

  /** Record a token (prompt or generated) in the penalty window. */
  accept(token: number): void {
    if (!(token >= 0 && token < this.nVocab && Number.isInteger(token))) {
      throw new ValidationError(`token ${token} is outside the vocabulary [0, ${this.nVocab})`);
    }
    this.penalties?.push(token);
  }

  /**
   * Pick the next token.
   * @param logits [n_vocab] raw logits. Penalties are applied in place and undone before
   *   returning, so the array is unchanged afterwards (e.g. for `topLogprobs`).
   * @param coin uniform number in [0, 1) to draw with (tests, llama2.c style); by default the
   *   sampler's own seeded PRNG provides it. Greedy sampling draws nothing.
   */
  sample(logits: Float32Array, coin?: number): number {
    if (logits.length < this.nVocab) {
      throw new ValidationError(`logits has ${logits.length} entries, expected n_vocab = ${this.nVocab}`);
    }
    if (this.constraint !== null) {
      const masked = this.masked!;
      masked.set(logits.subarray(0, this.nVocab));
      this.constraint.apply(masked);
      logits = masked;
    }
    const o = this.options;
    const pen = this.penalties;
    if (pen !== null) pen.apply(logits, o.repeat_penalty, o.frequency_penalty, o.presence_penalty);
    try {
      if (o.temperature <= 0) return argmax(logits, this.nVocab);
      const c = this.cand;
      if (o.top_k > 0 && o.top_k < this.nVocab) c.loadTopK(logits, o.top_k);
      else c.load(logits);
      typicalP(c, o.typical_p);
      topP(c, o.top_p);
      minP(c, o.min_p);
      return drawFromCandidates(c, o.temperature, coin ?? this.rng.next());
    } finally {
      if (pen !== null) pen.restore(logits);
    }
  }

  /**
   * Forget the token history and restart the PRNG: from the same seed when one was given
   * (so a reset sampler repeats itself), from a fresh random seed when the seed was −1.
   */
  reset(): void {
    this.penalties?.clear();
    if (this.options.seed === -1) this.currentSeed = randomSeed();
    this.rng.reseed(this.currentSeed);
  }
}
