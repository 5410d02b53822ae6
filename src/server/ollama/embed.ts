/** POST /api/embed (batch, normalised) and POST /api/embeddings (one prompt, the legacy shape). */
import type { Hono } from 'hono';
import { embedTexts } from '../embedding.ts';
import type { ServerState } from '../state.ts';
import { parseBody } from '../validate.ts';
import { keepAliveMs } from './generate.ts';
import { embedBody, embeddingsBody } from './schemas.ts';

export function embedRoutes(app: Hono, state: ServerState): void {
  app.post('/api/embed', async (c) => {
    const b = await parseBody(c, embedBody);
    const texts = typeof b.input === 'string' ? [b.input] : b.input;
    const r = await embedTexts(state, b.model, texts, keepAliveMs(b.keep_alive), b.dimensions ?? undefined);
    return c.json({
      model: r.name,
      embeddings: r.vectors.map((v) => Array.from(v)),
      total_duration: r.totalNs,
      load_duration: r.loadNs,
      prompt_eval_count: r.promptTokens,
    });
  });

  app.post('/api/embeddings', async (c) => {
    const b = await parseBody(c, embeddingsBody);
    const r = await embedTexts(state, b.model, [b.prompt], keepAliveMs(b.keep_alive));
    return c.json({ embedding: Array.from(r.vectors[0]) });
  });
}
