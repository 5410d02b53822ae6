/**
 * Image embeddings into a text model's prompt (Gemma 3, as llama.cpp's mtmd lays it out):
 *
 *   … text … <start_of_image> [n soft tokens: the encoder's embedding rows] <end_of_image> … text …
 *
 * The soft tokens take positions like any token; their rows enter the residual stream as they are (no
 * √n_embd scale: llama.cpp scales only token embeddings) and attend to each other in both directions
 * (llama.cpp decodes a Gemma 3 image non-causally), while text stays causal.
 *
 * @example
 * const rows = model.enableEmbeddingInput();                  // at load
 * await prefillWithImage(model, { tokens, softStart, embeddings, pos0: 0 });
 */
import { ValidationError } from '../errors.ts';
import type { LlamaModel } from '../model/llama.ts';

export interface ImagePrefill {
  /** The batch's token ids; the ids at the soft-token rows are ignored. */
  tokens: Int32Array;
  /** First soft-token row in `tokens` (the row after `<start_of_image>`). */
  softStart: number;
  /** f32 [n_soft][n_embd]: the image's embedding rows. */
  embeddings: Float32Array;
  /** Position of tokens[0]. */
  pos0: number;
  /** Logit rows to compute (default 1: the last token). */
  outRows?: number;
}

/** Token ids of `<start_of_image>`, n placeholders (`fill`), `<end_of_image>`; the soft rows start at index 1. */
export function gemma3ImageTokens(startOfImage: number, endOfImage: number, nSoft: number, fill = startOfImage): Int32Array {
  const ids = new Int32Array(nSoft + 2).fill(fill);
  ids[0] = startOfImage;
  ids[nSoft + 1] = endOfImage;
  return ids;
}

/** Runs one forward over `tokens` with the image rows in place of the soft tokens (one batch: nTok ≤ maxTokens). */
export async function prefillWithImage(model: LlamaModel, p: ImagePrefill): Promise<void> {
  const nTok = p.tokens.length;
  const nEmbd = model.hp.nEmbd;
  const nSoft = p.embeddings.length / nEmbd;
  if (!Number.isInteger(nSoft) || nSoft < 1) throw new ValidationError(`prefillWithImage: embeddings hold ${p.embeddings.length} values, not whole rows of ${nEmbd}`);
  if (nTok > model.maxTokens) throw new ValidationError(`prefillWithImage: ${nTok} tokens, the batch takes ${model.maxTokens}`);
  if (p.softStart < 0 || p.softStart + nSoft > nTok) throw new ValidationError(`prefillWithImage: soft rows [${p.softStart}, ${p.softStart + nSoft}) outside the ${nTok} tokens`);
  const rows = model.enableEmbeddingInput();
  model.inputTokens.set(p.tokens);
  for (let i = 0; i < nTok; i++) model.inputPositions[i] = p.pos0 + i;
  rows.set(p.embeddings, p.softStart * nEmbd);
  model.embeddingRows = { start: p.softStart, n: nSoft, bidirectional: true };
  try {
    await model.forward(nTok, p.pos0 + nTok, p.outRows ?? 1);
  } finally {
    model.embeddingRows = null;
  }
}
