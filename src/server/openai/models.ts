/** POST /v1/embeddings, GET /v1/models, GET /v1/models/:id (OpenAI's shapes). */
import { Buffer } from 'node:buffer';
import type { Hono } from 'hono';
import { embedTexts } from '../embedding.ts';
import type { ServerState } from '../state.ts';
import { parseBody } from '../validate.ts';
import { embeddingsBody } from './schemas.ts';

/** Little-endian float32 bytes, base64 (what `encoding_format: "base64"` returns; the openai client asks for it). */
function base64Floats(v: Float32Array): string {
  const le = new Float32Array(v); // typed arrays are little-endian on every platform the runtimes support
  return Buffer.from(le.buffer, le.byteOffset, le.byteLength).toString('base64');
}

export function openaiModelRoutes(app: Hono, state: ServerState): void {
  app.post('/v1/embeddings', async (c) => {
    const b = await parseBody(c, embeddingsBody);
    const texts = typeof b.input === 'string' ? [b.input] : b.input;
    const r = await embedTexts(state, b.model, texts, undefined, b.dimensions ?? undefined);
    const b64 = b.encoding_format === 'base64';
    return c.json({
      object: 'list',
      data: r.vectors.map((v, index) => ({ object: 'embedding', index, embedding: b64 ? base64Floats(v) : Array.from(v) })),
      model: r.name,
      usage: { prompt_tokens: r.promptTokens, total_tokens: r.promptTokens },
    });
  });

  const model = (name: string, modified: Date) => ({ id: name, object: 'model', created: Math.floor(modified.getTime() / 1000), owned_by: 'tessera' });

  app.get('/v1/models', async (c) => {
    const list = await state.store.list();
    return c.json({ object: 'list', data: list.map((m) => model(m.name, m.modifiedAt)) });
  });

  app.get('/v1/models/:id{.+}', async (c) => {
    const e = await state.store.get(c.req.param('id'));
    return c.json(model(e.name, e.modifiedAt));
  });
}
