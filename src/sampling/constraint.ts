/**
 * Optional hook of the sampler: forbids tokens before the chain (penalties, top_k, …) runs, so that the
 * filters only ever see allowed tokens. Structured output (src/grammar) implements it.
 */
export interface LogitConstraint {
  /** Set the logits of forbidden tokens to −Infinity, in place. `logits`: [n_vocab], a scratch copy. */
  apply(logits: Float32Array): void;
}
