/** Embeddings for /api/embed, /api/embeddings and /v1/embeddings: admission, load, engine.embed, metrics. */
import type { ServerState } from './state.ts';

export interface EmbedResult {
  name: string;
  /** f32 [texts.length][n_embd], L2-normalised (engine.embed). */
  vectors: Float32Array[];
  promptTokens: number;
  loadNs: number;
  totalNs: number;
}

export async function embedTexts(state: ServerState, model: string, texts: string[], keepAliveMs?: number, dimensions?: number): Promise<EmbedResult> {
  const t0 = performance.now();
  const leave = state.admission.enter();
  try {
    const lease = await state.loader.acquire(model);
    try {
      const engine = lease.model.engine;
      let vectors = await engine.embed(texts);
      if (dimensions !== undefined) vectors = vectors.map((v) => truncateNormalise(v, dimensions));
      const promptTokens = texts.reduce((n, t) => n + engine.tokenizer.encode(t, { addSpecial: true, parseSpecial: true }).length, 0);
      state.metrics.inc('tessera_embedded_tokens_total', 'Tokens embedded.', {}, promptTokens);
      return { name: lease.model.name, vectors, promptTokens, loadNs: lease.loadNs, totalNs: Math.round((performance.now() - t0) * 1e6) };
    } finally {
      state.loader.release(lease, keepAliveMs);
    }
  } finally {
    leave();
  }
}

/** Matryoshka-style `dimensions`: the first d components, L2-normalised again (what Ollama and OpenAI do). */
function truncateNormalise(v: Float32Array, d: number): Float32Array {
  const out = v.slice(0, Math.min(d, v.length));
  let n = 0;
  for (const x of out) n += x * x;
  n = Math.sqrt(n);
  if (n > 0) for (let i = 0; i < out.length; i++) out[i] /= n;
  return out;
}
