/**
 * The server's KV prefix cache outlives the process (issue: paged KV cache, item 6): app A (TESSERA_STORAGE=fs)
 * evaluates a long prompt and closes; app B, fresh, on the same cache directory, answers the same prompt
 * evaluating only what follows the last full page, with A's exact output. Within one app, a repeated prompt
 * evaluates one token, also when generation filled the page that holds the prompt's tail (its leading rows match).
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PAGE_SIZE } from '../../src/kv/cache.ts';
import { makeModelsDir, post, testApp } from './fixtures.ts';

const PS = DEFAULT_PAGE_SIZE; // the server's page size

const total0 = (r: { prompt_eval_count: number }) => r.prompt_eval_count;

describe('prefix cache across server restarts (fs storage)', () => {
  it('a fresh server reuses the pages the previous one wrote; output identical', async () => {
    const dir = await makeModelsDir('prefix-cache');
    const cache = await mkdtemp(join(tmpdir(), 'tessera-kv-'));
    const prompt = 'the world hello a the '.repeat(40);
    const req = { model: 'tiny', prompt, raw: true, stream: false, options: { temperature: 0, num_predict: 8 } };

    const a = testApp(dir, { storage: 'fs', storageUrl: cache });
    const ra = await (await post(a, '/api/generate', req)).json();
    expect(ra.prompt_eval_count).toBeGreaterThan(128); // all of it, cold
    const again = await (await post(a, '/api/generate', req)).json();
    expect(again.prompt_eval_count).toBe(1); // same process: every page, the partial one too
    expect(again.response).toBe(ra.response);
    const stats = await (await a.request('/api/kv')).json();
    expect(stats.models[0].kv.reusedTokens).toBe(total0(ra) - 1);
    expect(stats.models[0].kv.hot.pages).toBeGreaterThan(0);
    expect(stats.models[0].kv.storage.enabled).toBe(true);
    const metrics = await (await a.request('/metrics')).text();
    expect(metrics).toMatch(/tessera_kv_events\{event="reusedTokens"\} \d+/);
    await a.close(); // flushes the write-behind queue

    const b = testApp(dir, { storage: 'fs', storageUrl: cache });
    const rb = await (await post(b, '/api/generate', req)).json();
    const total = ra.prompt_eval_count as number;
    const fullPages = Math.floor((total - 1) / PS) * PS; // whole pages only from storage; at least one token is evaluated
    expect(rb.prompt_eval_count).toBe(total - fullPages);
    expect(rb.response).toBe(ra.response);
    await b.close();

    const off = testApp(dir, { storage: 'off' });
    const rc = await (await post(off, '/api/generate', req)).json();
    expect(rc.prompt_eval_count).toBe(total); // no storage: cold again
    await off.close();
  });
});
