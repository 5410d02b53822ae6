/**
 * Bad input: each case gets a clear 4xx (or 503 past the queue bound) with a message, and the server keeps
 * serving. Then a fuzz run: ≥ 1,000 malformed requests from a seeded generator, every answer a 4xx with a
 * message in the route's API shape.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../helpers/mulberry32.ts';
import { buildPng } from '../vision/images.ts';
import { makeModelsDir, post, testApp, type TestApp } from './fixtures.ts';

let dir: string;
let app: TestApp;
beforeAll(async () => {
  dir = await makeModelsDir('bad');
  app = testApp(dir);
});
afterAll(async () => app.close());

/** The error message of an Ollama or OpenAI error body, or null when the body has none. */
async function errorMessage(res: Response): Promise<string | null> {
  const text = await res.text();
  try {
    const b = JSON.parse(text);
    const m = typeof b.error === 'string' ? b.error : b.error?.message;
    return typeof m === 'string' && m.length > 0 ? m : null;
  } catch {
    return null;
  }
}

const alive = async () => {
  expect((await app.request('/')).status).toBe(200);
  const ok = await post(app, '/api/generate', { model: 'tiny', prompt: 'hello', raw: true, stream: false, options: { num_predict: 2 } });
  expect(ok.status).toBe(200);
};

describe('bad input, case by case', () => {
  it('malformed JSON, wrong top-level type, missing body', async () => {
    for (const body of ['{"model": "tiny", ', 'not json', '[1,2]', '"str"', 'null', '']) {
      const r = await post(app, '/api/generate', body);
      expect(r.status, body).toBe(400);
      expect(await errorMessage(r), body).toMatch(/invalid JSON|must be a JSON object|missing request body/);
    }
    const v1 = await post(app, '/v1/chat/completions', '{oops');
    expect(v1.status).toBe(400);
    expect((await v1.json()).error.type).toBe('invalid_request_error');
  });

  it('wrong types name the field', async () => {
    const r = await post(app, '/api/chat', { model: 'tiny', messages: 'hi' });
    expect(r.status).toBe(400);
    expect(await errorMessage(r)).toBe('messages: must be an array of messages');
    const t = await post(app, '/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: 'x' }], temperature: 'hot' });
    expect(await errorMessage(t)).toBe('temperature: must be a number');
    const o = await post(app, '/api/generate', { model: 'tiny', prompt: 'x', options: { top_k: 'many' } });
    expect(await errorMessage(o)).toContain('invalid option "top_k"');
  });

  it('unknown model: 404 with the name, on both APIs', async () => {
    const r = await post(app, '/api/chat', { model: 'llama9:70b', messages: [{ role: 'user', content: 'x' }] });
    expect(r.status).toBe(404);
    expect(await errorMessage(r)).toBe("model 'llama9:70b' not found");
    const v = await post(app, '/v1/chat/completions', { model: 'llama9:70b', messages: [{ role: 'user', content: 'x' }] });
    expect(v.status).toBe(404);
    expect(await errorMessage(v)).toBe("model 'llama9:70b' not found");
  });

  it('model names that try to leave the store are 400s and touch nothing', async () => {
    for (const model of ['../tiny', '../../etc/passwd', '/etc/passwd', 'a/../b', 'h/n/m/x', '..', 'x:../../y', 'tiny\u0000', `/${dir}/tiny.gguf`]) {
      for (const [path, body] of [['/api/generate', { model, prompt: 'x' }], ['/api/show', { model }], ['/api/create', { model, from: 'tiny' }], ['/api/copy', { source: 'tiny', destination: model }]] as const) {
        const r = await post(app, path, body);
        expect(r.status, `${path} ${model}`).toBe(400);
        expect(await errorMessage(r)).toContain('invalid model name');
      }
    }
  });

  it('an oversized body is a 413 with the limit in the message', async () => {
    const small = testApp(dir, { maxBodyBytes: 1024 });
    const r = await post(small, '/api/generate', { model: 'tiny', prompt: 'x'.repeat(2000) });
    expect(r.status).toBe(413);
    expect(await errorMessage(r)).toBe('request body too large: the limit is 1024 bytes (TESSERA_MAX_BODY)');
    const v = await post(small, '/v1/completions', { model: 'tiny', prompt: 'x'.repeat(2000) });
    expect(v.status).toBe(413);
    expect((await v.json()).error.type).toBe('invalid_request_error');
  });

  it('an invalid or unsupported JSON Schema is a 400 naming the keyword; a bad format value a 400', async () => {
    const r = await post(app, '/api/generate', { model: 'tiny', prompt: 'x', format: { type: 'string', pattern: '^a+$' } });
    expect(r.status).toBe(400);
    expect(await errorMessage(r)).toContain('pattern');
    const t = await post(app, '/api/generate', { model: 'tiny', prompt: 'x', format: { type: 'banana' } });
    expect(t.status).toBe(400);
    const bad = await post(app, '/api/generate', { model: 'tiny', prompt: 'x', format: 'yaml' });
    expect(bad.status).toBe(400);
    const ok = await post(app, '/api/generate', { model: 'tiny', prompt: 'x', stream: false, options: { num_predict: 2 } });
    expect(ok.status).toBe(200); // still serving
  });

  it('a client that disconnects mid-stream frees its slot; the next request is served', async () => {
    const ac = new AbortController();
    const res = await app.request('/api/generate', { method: 'POST', body: JSON.stringify({ model: 'tiny', prompt: 'hello', raw: true, options: { num_predict: 100000, temperature: 1, seed: 1 } }), signal: ac.signal });
    const reader = res.body!.getReader();
    await reader.read();
    ac.abort();
    await reader.cancel();
    const t0 = Date.now();
    while (app.state.admission.inflight > 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10));
    expect(app.state.admission.inflight).toBe(0);
    expect(app.state.loader.list().every((m) => m.active === 0)).toBe(true);
    await alive();
  });

  it('images: corrupt, empty, unsupported, a decompression bomb, remote URLs: 400 naming the image; a good image to a text-only model: 400', async () => {
    const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');
    const png = buildPng(4, 3, 2, Array.from({ length: 36 }, (_, i) => (i * 29) % 256));
    const bomb = Uint8Array.from(png);
    new DataView(bomb.buffer).setUint32(16, 100_000); // IHDR declares 100000 × 100000 (CRC left stale: the size check comes first)
    new DataView(bomb.buffer).setUint32(20, 100_000);
    const cases: [unknown, RegExp][] = [
      [b64(png.subarray(0, 40)), /images\[0\]: .*(truncated|corrupt|invalid|unexpected)/i],
      ['', /images\[0\]/],
      [b64(new TextEncoder().encode('BM this is a bitmap, not supported')), /images\[0\]: .*(format|unsupported|not)/i],
      [b64(bomb), /images\[0\]: .*pixel/i],
      ['%%% not base64 %%%', /images\[0\]: not base64/],
      [b64(png), /model 'tiny' does not support images/],
    ];
    for (const [img, re] of cases) {
      const g = await post(app, '/api/generate', { model: 'tiny', prompt: 'what is this?', images: [img], stream: false });
      expect(g.status, String(re)).toBe(400);
      expect(await errorMessage(g)).toMatch(re);
      const c = await post(app, '/api/chat', { model: 'tiny', messages: [{ role: 'user', content: 'and this?', images: [img] }], stream: false });
      expect(c.status).toBe(400);
      expect(await errorMessage(c)).toMatch(re);
    }
    const oa = (url: string) => post(app, '/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: [{ type: 'text', text: 'see' }, { type: 'image_url', image_url: { url } }] }] });
    const remote = await oa('https://example.com/cat.png');
    expect(remote.status).toBe(400);
    expect(await errorMessage(remote)).toMatch(/remote image URLs are not fetched/);
    const good = await oa(`data:image/png;base64,${b64(png)}`);
    expect(good.status).toBe(400);
    expect(await errorMessage(good)).toMatch(/does not support images/);
    const bad = await oa(`data:image/png;base64,${b64(png.subarray(0, 30))}`);
    expect(bad.status).toBe(400);
    expect(await errorMessage(bad)).toMatch(/images\[0\]/);
    await alive();
  });

  it('100 concurrent requests past the queue bound: the excess gets 503 with a message, the rest are served', async () => {
    const bounded = testApp(dir, { numParallel: 1, maxQueue: 3 });
    try {
      const rs = await Promise.all(Array.from({ length: 104 }, () => post(bounded, '/api/generate', { model: 'tiny', prompt: 'hi', raw: true, stream: false, options: { num_predict: 2 } })));
      const codes = rs.map((r) => r.status);
      expect(codes.filter((c) => c === 200).length).toBe(4);
      expect(codes.filter((c) => c === 503).length).toBe(100);
      const busy = rs.find((r) => r.status === 503)!;
      expect(await errorMessage(busy)).toMatch(/^server busy: 4 requests in progress or queued/);
      expect(bounded.state.admission.inflight).toBe(0);
      expect((await post(bounded, '/api/generate', { model: 'tiny', prompt: 'hi', raw: true, stream: false, options: { num_predict: 1 } })).status).toBe(200);
    } finally {
      await bounded.close();
    }
  });
});

// ---- fuzz ----

type Case = { method: string; path: string; body: string };

const WRONG: Record<string, unknown[]> = {
  str: [1, true, [], {}, null],
  arr: ['x', 1, {}, true],
  bool: ['yes', 1, [], {}],
  obj: ['x', 1, [], true],
};

/** Per route: a valid body, and fields with their expected kind (a wrong-typed value there is always invalid). */
const ROUTES: { method: string; path: string; base: Record<string, unknown>; required?: string[]; fields: Record<string, unknown[]> }[] = [
  { method: 'POST', path: '/api/generate', base: { model: 'tiny', prompt: 'hi' }, required: ['model'], fields: { model: [...WRONG.str, ''], prompt: [1, [], {}], stream: WRONG.bool, options: [...WRONG.obj, { temperature: 'hot' }, { top_k: -1 }, { top_p: 9 }, { num_ctx: 0 }, { stop: 5 }], keep_alive: [{}, [], 'forever', '5x'], context: ['x', ['a'], [-1], [0.5]], raw: WRONG.bool, system: [1, [], {}], top_logprobs: [99, -1, 'x', 3], format: [5, 'yaml', []] } },
  { method: 'POST', path: '/api/chat', base: { model: 'tiny', messages: [{ role: 'user', content: 'hi' }] }, required: ['model'], fields: { model: [...WRONG.str, ''], messages: ['x', 1, {}, [1], [{ content: 'x' }], [{ role: 5, content: 'x' }], [{ role: 'user', content: 5 }]], tools: ['x', 1, {}], options: [...WRONG.obj, { seed: 'x' }, { repeat_penalty: 0 }], stream: WRONG.bool, format: [5, 'xml'] } },
  { method: 'POST', path: '/api/embed', base: { model: 'embed', input: 'hi' }, fields: { model: [...WRONG.str, ''], input: [5, [1], null, {}, true], dimensions: [0, -3, 'x', 1.5] } },
  { method: 'POST', path: '/api/embeddings', base: { model: 'embed', prompt: 'hi' }, fields: { model: WRONG.str, prompt: [5, null, [], {}] } },
  { method: 'POST', path: '/api/show', base: { model: 'tiny' }, fields: { model: [1, true, [], {}, '', '../x', 'a/b/c/d'] } },
  { method: 'DELETE', path: '/api/delete', base: { model: 'nothing-here' }, fields: { model: [1, [], {}, '', '../x'] } },
  { method: 'POST', path: '/api/copy', base: { source: 'tiny', destination: 'never' }, fields: { source: [...WRONG.str, '', '../x'], destination: [...WRONG.str, '', '/abs'] } },
  { method: 'POST', path: '/api/create', base: { model: 'never', from: 'tiny' }, fields: { model: [1, [], {}, '', 'a/../b'], from: [1, [], {}, 'relative/path.gguf', '/no/such/file.gguf', 'missing-model'], parameters: ['x', 1, [], { top_p: 5 }], files: ['x', 1, { 'a.gguf': 'sha256:zz' }], quantize: [1, 'Q77'] } },
  { method: 'POST', path: '/v1/chat/completions', base: { model: 'tiny', messages: [{ role: 'user', content: 'hi' }] }, fields: { model: [...WRONG.str, ''], messages: [5, 'x', [], [{}], [{ role: 'user', content: 5 }]], temperature: [5, -1, 'x'], top_p: [2, 'x'], n: [2, 0, 'x'], max_tokens: [0, -1, 'x', 1.5], stop: [5, [1]], logprobs: ['x', 1], top_logprobs: [50, -1], response_format: [{ type: 'xml' }, 'json', 5], stream: WRONG.bool, options: ['x', { top_k: 'x' }] } },
  { method: 'POST', path: '/v1/completions', base: { model: 'tiny', prompt: 'hi' }, fields: { model: WRONG.str, prompt: [5, ['a', 'b'], '', {}], max_tokens: [0, 'x'], logprobs: [9, 'x'], echo: [true], temperature: [3] } },
  { method: 'POST', path: '/v1/embeddings', base: { model: 'embed', input: 'hi' }, fields: { model: WRONG.str, input: [5, [[1, 2]], null, {}], encoding_format: ['hex', 5], dimensions: [0, 'x'] } },
];

function fuzzCases(n: number, seed: number): Case[] {
  const rnd = mulberry32(seed);
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)];
  const cases: Case[] = [];
  for (let i = 0; i < n; i++) {
    const r = pick(ROUTES);
    const kind = Math.floor(rnd() * 6);
    let body: string;
    if (kind === 0) {
      // garbage bytes that are never JSON (a control character first)
      body = '\u0001' + Array.from({ length: Math.floor(rnd() * 64) }, () => String.fromCharCode(32 + Math.floor(rnd() * 95))).join('');
    } else if (kind === 1) {
      const full = JSON.stringify(r.base);
      body = full.slice(0, Math.floor(rnd() * (full.length - 1))); // a strict prefix of an object is never JSON
    } else if (kind === 2) {
      body = JSON.stringify(pick([[], [r.base], 1, 'x', null, true, []]));
    } else if (kind === 3) {
      const { [pick(r.required ?? Object.keys(r.base))]: _, ...rest } = r.base; // a required field missing
      body = JSON.stringify(rest);
    } else if (kind === 4) {
      // a name that escapes or is malformed; or one that does not exist (except for create, which makes it)
      const names = ['../escape', '..', 'a/b/c/d', 'x'.repeat(300), 'bad name', 'a:b:c', ...(r.path === '/api/create' ? [] : [`unknown-${i}`])];
      body = JSON.stringify({ ...r.base, model: pick(names), ...(r.path === '/api/copy' ? { source: `unknown-${i}` } : {}) });
    } else {
      const f = pick(Object.keys(r.fields));
      body = JSON.stringify({ ...r.base, [f]: pick(r.fields[f]) });
    }
    cases.push({ method: r.method, path: r.path, body });
  }
  // Non-JSON routes: bad digests.
  for (let i = 0; i < 40; i++) cases.push({ method: 'POST', path: pick(['/api/blobs/sha256:xyz', '/api/blobs/md5:abc', `/api/blobs/sha256:${'0'.repeat(64)}`]), body: 'x'.repeat(i) });
  return cases;
}

describe('fuzz', () => {
  it('1,040 malformed requests: every answer is a 4xx with a message; the server still answers', async () => {
    const cases = fuzzCases(1000, 20251126);
    const failures: string[] = [];
    const statuses = new Map<number, number>();
    for (const c of cases) {
      const res = await app.request(c.path, { method: c.method, body: c.body, headers: { 'content-type': 'application/json' } });
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const msg = await errorMessage(res);
      if (res.status < 400 || res.status >= 500 || !msg) failures.push(`${c.method} ${c.path} ${c.body.slice(0, 120)} → ${res.status} ${msg}`);
    }
    expect(failures, failures.slice(0, 10).join('\n')).toEqual([]);
    expect(cases.length).toBeGreaterThanOrEqual(1000);
    console.log('fuzz statuses', Object.fromEntries(statuses));
    await alive();
  });
});
