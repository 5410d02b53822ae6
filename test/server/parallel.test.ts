/**
 * The server with continuous batching (TESSERA_NUM_PARALLEL slots per model, TESSERA_MAX_QUEUE waiting):
 * two streams hold both slots (/api/ps and the slots gauge show them), a third waits in the queue, a fourth gets
 * 503; a client that disconnects frees its slot, and the queued request is served with it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeModelsDir, post, testApp, type TestApp } from './fixtures.ts';

let dir: string;
let app: TestApp;
beforeAll(async () => {
  dir = await makeModelsDir('parallel');
  app = testApp(dir, { numParallel: 2, maxQueue: 1 });
});
afterAll(async () => app.close());

const until = async (cond: () => boolean | Promise<boolean>, ms = 5000) => {
  const t0 = Date.now();
  while (!(await cond()) && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 5));
};

async function slots(): Promise<{ total: number; in_use: number; queued: number }> {
  const ps = await (await app.request('/api/ps')).json();
  return ps.models.find((m: { name: string }) => m.name.startsWith('tiny')).slots;
}

describe('parallel requests', () => {
  it('2 slots busy, 1 queued, the next 503; a disconnect frees a slot for the queued one', async () => {
    const long = { model: 'tiny', prompt: 'hello', raw: true, options: { num_predict: 100000, temperature: 1, seed: 1 } };
    const acs = [new AbortController(), new AbortController()];
    const streams = [];
    for (const ac of acs) {
      const res = await app.request('/api/generate', { method: 'POST', body: JSON.stringify(long), signal: ac.signal });
      expect(res.status).toBe(200);
      const reader = res.body!.getReader();
      await reader.read();
      streams.push(reader);
    }
    expect(await slots()).toEqual({ total: 2, in_use: 2, queued: 0 });
    const metrics = await (await app.request('/metrics')).text();
    expect(metrics).toMatch(/tessera_slots_in_use\{model="tiny[^"]*"\} 2/);

    // Third: admitted, waits for a slot (its answer starts only when it has one).
    const third = post(app, '/api/generate', { model: 'tiny', prompt: 'hi', raw: true, stream: false, options: { num_predict: 3 } });
    await until(async () => (await slots()).queued === 1);
    expect((await slots()).queued).toBe(1);
    // Fourth: past TESSERA_NUM_PARALLEL + TESSERA_MAX_QUEUE.
    const fourth = await post(app, '/api/generate', { model: 'tiny', prompt: 'hi', raw: true, stream: false, options: { num_predict: 3 } });
    expect(fourth.status).toBe(503);
    expect((await fourth.json()).error).toMatch(/^server busy: 3 requests in progress or queued/);

    // A client goes away: its slot goes to the queued request.
    acs[0].abort();
    await streams[0].cancel();
    const r3 = await third;
    expect(r3.status).toBe(200);
    expect((await r3.json()).eval_count).toBe(3);

    acs[1].abort();
    await streams[1].cancel();
    await until(async () => (await slots()).in_use === 0 && app.state.admission.inflight === 0);
    expect(await slots()).toEqual({ total: 2, in_use: 0, queued: 0 });
    expect(app.state.admission.inflight).toBe(0);
  });
});
