/**
 * POST /api/pull `{ model | name, insecure?, stream? }`: pulls from an Ollama-compatible registry or a GGUF URL
 * (src/store/pull.ts). Streaming (the default) sends NDJSON progress lines `{status, digest?, total?, completed?}`
 * and ends with `{status: "success"}`, or with `{error}` when the pull fails after the stream began;
 * `stream: false` answers one `{status: "success"}` or an HTTP error.
 */
import type { Hono } from 'hono';
import { z } from 'zod';
import { isUrl, type PullProgress, pullModel } from '../store/pull.ts';
import { describeError } from './errors.ts';
import type { ServerState } from './state.ts';
import { parseModelName } from './store.ts';
import { parseBody } from './validate.ts';

export const pullBody = z
  .looseObject({
    model: z.string().nullish(),
    name: z.string().nullish(),
    insecure: z.boolean().nullish(),
    stream: z.boolean().nullish(),
  })
  .refine((b) => !!(b.model || b.name), { message: 'model: required' });

export function pullRoute(app: Hono, state: ServerState): void {
  app.post('/api/pull', async (c) => {
    const b = await parseBody(c, pullBody);
    const model = (b.model || b.name)!;
    if (!isUrl(model)) parseModelName(model); // 400 before anything streams
    const signal = c.req.raw.signal;
    const pull = (onProgress?: (p: PullProgress) => void) => pullModel(state.store, model, { insecure: b.insecure ?? false, signal, onProgress });
    if (b.stream === false) {
      await pull();
      return c.json({ status: 'success' });
    }
    // Lines wait until the manifest is in, so that an unknown model or an unreachable registry is an HTTP
    // error (404, 4xx/5xx) rather than a 200 stream ending in {error}.
    const enc = new TextEncoder();
    let ctl!: ReadableStreamDefaultController<Uint8Array>;
    const body = new ReadableStream<Uint8Array>({ start: (k) => void (ctl = k) });
    const line = (o: object) => {
      try {
        ctl.enqueue(enc.encode(`${JSON.stringify(o)}\n`));
      } catch {
        /* client gone */
      }
    };
    let started!: () => void;
    const ready = new Promise<void>((r) => (started = r));
    const done = pull((p) => {
      line(p);
      if (p.status !== 'pulling manifest') started();
    });
    await Promise.race([ready, done]);
    done.then(
      () => ctl.close(),
      (e: unknown) => {
        line({ error: describeError(e).message });
        try {
          ctl.close();
        } catch {
          /* closed */
        }
      },
    );
    return new Response(body, { headers: { 'Content-Type': 'application/x-ndjson' } });
  });
}
