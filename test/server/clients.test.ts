/**
 * Real clients against the server started through each runtime's adapter on loopback:
 *   Node  `node dist/adapters/node.js` (npm test builds dist/ first)
 *   Bun   `bun adapters/bun.ts`
 *   Deno  `deno run -A adapters/deno.ts`
 * The official `ollama` and `openai` npm clients run chat (streamed and not), generate, embed, list, show,
 * copy/delete, and pull from a registry on loopback; curl checks one NDJSON stream and one SSE stream.
 * Structured output and tools are other issues' and are not exercised here.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Ollama } from 'ollama';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addModel, type Registry, startRegistry } from '../helpers/registry.ts';
import { makeModelsDir } from './fixtures.ts';

const ROOT = join(import.meta.dirname, '../..');
const BIN = join(ROOT, 'node_modules/.bin');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

async function waitUp(url: string, proc: ChildProcess, log: () => string): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < 60_000) {
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}: ${log()}`);
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`server did not answer at ${url}: ${log()}`);
}

const RUNTIMES: { name: string; cmd: string; args: string[]; available: () => boolean }[] = [
  { name: 'node', cmd: process.execPath, args: ['dist/adapters/node.js'], available: () => existsSync(join(ROOT, 'dist/adapters/node.js')) },
  { name: 'bun', cmd: join(BIN, 'bun'), args: ['adapters/bun.ts'], available: () => existsSync(join(BIN, 'bun')) },
  { name: 'deno', cmd: join(BIN, 'deno'), args: ['run', '-A', 'adapters/deno.ts'], available: () => existsSync(join(BIN, 'deno')) },
];

for (const rt of RUNTIMES) {
  // Node needs dist/ (npm test builds it); the other two ship as devDependencies.
  describe.skipIf(!rt.available())(`real clients against the ${rt.name} adapter (skipped when ${rt.name === 'node' ? 'dist/ is not built' : `${rt.name} is not installed`})`, () => {
    let proc: ChildProcess;
    let base: string;
    let out = '';
    let ollama: Ollama;
    let dir: string;
    let openai: OpenAI;

    beforeAll(async () => {
      dir = await makeModelsDir(`clients-${rt.name}`);
      const port = await freePort();
      base = `http://127.0.0.1:${port}`;
      proc = spawn(rt.cmd, rt.args, { cwd: ROOT, env: { ...process.env, TESSERA_HOST: `127.0.0.1:${port}`, TESSERA_MODELS: dir, TESSERA_HOME: join(dir, 'home'), TESSERA_THREADS: '1', TESSERA_LOG: 'json' }, stdio: ['ignore', 'pipe', 'pipe'] });
      proc.stdout!.on('data', (d) => (out += d));
      proc.stderr!.on('data', (d) => (out += d));
      await waitUp(base, proc, () => out);
      ollama = new Ollama({ host: base });
      openai = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused' });
    });
    afterAll(async () => {
      if (proc && proc.exitCode === null) {
        proc.kill('SIGTERM');
        await new Promise((r) => proc.once('exit', r));
      }
    });

    it('listens on TESSERA_HOST and logs each request as a JSON line', async () => {
      expect(await (await fetch(base)).text()).toBe('Tessera is running');
      await fetch(`${base}/api/version`);
      await new Promise((r) => setTimeout(r, 100));
      const logged = out.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
      expect(logged.some((l) => l.path === '/api/version' && l.status === 200 && l.level === 'info')).toBe(true);
    });

    it('blob upload (streamed to disk, sha256 checked) then create from it', async () => {
      const bytes = readFileSync(join(dir, 'tiny.gguf'));
      const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
      expect((await fetch(`${base}/api/blobs/${digest}`, { method: 'HEAD' })).status).toBe(404);
      expect((await fetch(`${base}/api/blobs/${digest}`, { method: 'POST', body: bytes })).status).toBe(201);
      expect((await fetch(`${base}/api/blobs/${digest}`, { method: 'HEAD' })).status).toBe(200);
      const r = await ollama.create({ model: 'uploaded', files: { 'model.gguf': digest }, system: 'short answers' } as Parameters<Ollama['create']>[0]);
      expect(r.status).toBe('success');
      expect((await ollama.show({ model: 'uploaded' })).system).toBe('short answers');
    });

    it('ollama: pull (streamed and not) from a loopback registry, then run and delete the pulled model', async () => {
      const reg: Registry = await startRegistry();
      try {
        addModel(reg, 'library/remote:q8', [['application/vnd.ollama.image.model', readFileSync(join(dir, 'tiny.gguf'))]]);
        const model = `${reg.host}/library/remote:q8`;
        const statuses: string[] = [];
        for await (const p of await ollama.pull({ model, insecure: true, stream: true })) statuses.push(p.status);
        expect(statuses[0]).toBe('pulling manifest');
        expect(statuses.at(-1)).toBe('success');
        expect((await ollama.pull({ model, insecure: true })).status).toBe('success');
        expect((await ollama.generate({ model, prompt: 'hi', raw: true, options: { num_predict: 2 } })).done).toBe(true);
        await ollama.delete({ model });
        expect((await ollama.list()).models.map((m) => m.name)).not.toContain(model);
      } finally {
        await reg.close();
      }
    });

    it('ollama: list, show, generate, chat (streamed and not), embed, copy + delete', async () => {
      const { models } = await ollama.list();
      expect(models.map((m) => m.name)).toEqual(expect.arrayContaining(['embed:latest', 'tiny:latest']));
      const show = await ollama.show({ model: 'tiny' });
      expect(show.details.family).toBe('llama');
      const gen = await ollama.generate({ model: 'tiny', prompt: 'hello', raw: true, options: { num_predict: 4, temperature: 0 } });
      expect(gen.done).toBe(true);
      expect(gen.eval_count).toBeGreaterThan(0);
      const chat = await ollama.chat({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], options: { num_predict: 4, temperature: 0 } });
      expect(chat.message.role).toBe('assistant');
      let streamed = '';
      let last: { done: boolean; eval_count?: number } | undefined;
      for await (const part of await ollama.chat({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], stream: true, options: { num_predict: 4, temperature: 0 } })) {
        streamed += part.message.content;
        last = part;
      }
      expect(streamed).toBe(chat.message.content);
      expect(last!.done).toBe(true);
      const emb = await ollama.embed({ model: 'embed', input: ['hello world', 'the cat'] });
      expect(emb.embeddings).toHaveLength(2);
      expect(emb.embeddings[0]).toHaveLength(32);
      await ollama.copy({ source: 'tiny', destination: 'tiny-copy' });
      expect((await ollama.list()).models.map((m) => m.name)).toContain('tiny-copy:latest');
      await ollama.delete({ model: 'tiny-copy' });
      expect((await ollama.list()).models.map((m) => m.name)).not.toContain('tiny-copy:latest');
      await expect(ollama.show({ model: 'nope' })).rejects.toThrow("model 'nope' not found");
    });

    it('openai: chat completions (streamed and not), completions, embeddings, models', async () => {
      const req = { model: 'tiny', messages: [{ role: 'user' as const, content: 'hi' }], max_tokens: 4, temperature: 0 };
      const one = await openai.chat.completions.create(req);
      expect(one.choices[0].message.role).toBe('assistant');
      expect(one.usage!.completion_tokens).toBeGreaterThan(0);
      let streamed = '';
      let usage: OpenAI.CompletionUsage | null | undefined;
      for await (const chunk of await openai.chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } })) {
        streamed += chunk.choices[0]?.delta?.content ?? '';
        if (chunk.usage) usage = chunk.usage;
      }
      expect(streamed).toBe(one.choices[0].message.content);
      expect(usage!.total_tokens).toBe(one.usage!.total_tokens);
      const cmpl = await openai.completions.create({ model: 'tiny', prompt: 'hello', max_tokens: 3, temperature: 0 });
      expect(cmpl.choices[0].finish_reason).toMatch(/stop|length/);
      const emb = await openai.embeddings.create({ model: 'embed', input: ['hello', 'world'] }); // the client asks for base64 and decodes it
      expect(emb.data).toHaveLength(2);
      expect(emb.data[0].embedding).toHaveLength(32);
      expect(Math.hypot(...emb.data[0].embedding)).toBeCloseTo(1, 5);
      const models = await openai.models.list();
      expect(models.data.map((m) => m.id)).toContain('tiny:latest');
      expect((await openai.models.retrieve('tiny:latest')).id).toBe('tiny:latest');
      await expect(openai.chat.completions.create({ ...req, model: 'nope' })).rejects.toMatchObject({ status: 404 });
    });

    it('structured output and tools through both clients', async () => {
      const schema = { type: 'object', properties: { ok: { type: 'boolean' }, n: { type: 'integer', minimum: 0, maximum: 9 } }, required: ['ok', 'n'], additionalProperties: false };
      const opts = { temperature: 1, seed: 2, num_predict: 40 };
      const o = await ollama.chat({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], format: schema, options: opts });
      const v = JSON.parse(o.message.content);
      expect(typeof v.ok).toBe('boolean');
      expect(Number.isInteger(v.n)).toBe(true);
      const tools = [{ type: 'function' as const, function: { name: 'pick', description: 'pick a number', parameters: { type: 'object', properties: { n: { type: 'integer', minimum: 1, maximum: 3 } }, required: ['n'] } } }];
      const r = await openai.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], temperature: 1, seed: 5, max_tokens: 40, tools, tool_choice: 'required' });
      expect(r.choices[0].finish_reason).toBe('tool_calls');
      const call = r.choices[0].message.tool_calls![0] as { function: { name: string; arguments: string } };
      expect(call.function.name).toBe('pick');
      expect([1, 2, 3]).toContain(JSON.parse(call.function.arguments).n);
      const js = await openai.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], temperature: 1, seed: 6, max_tokens: 40, response_format: { type: 'json_schema', json_schema: { name: 's', schema } } });
      expect(Object.keys(JSON.parse(js.choices[0].message.content!)).sort()).toEqual(['n', 'ok']);
    });

    it('a client that disconnects mid-stream frees its slot (in-flight gauge back to 0)', async () => {
      const metric = async (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(await (await fetch(`${base}/metrics`)).text())?.[1] ?? 0);
      const before = await metric('tessera_generated_tokens_total');
      const ac = new AbortController();
      // Without the disconnect this would run to the 4096-token context.
      const res = await fetch(`${base}/api/generate`, { method: 'POST', body: JSON.stringify({ model: 'tiny', prompt: 'hello', raw: true, options: { num_predict: 1000000, num_ctx: 4096, temperature: 1, seed: 3 } }), signal: ac.signal });
      const reader = res.body!.getReader();
      await reader.read();
      ac.abort();
      const inflight = async () => Number(/^tessera_requests_in_flight (\d+)$/m.exec(await (await fetch(`${base}/metrics`)).text())![1]);
      const t0 = Date.now();
      while ((await inflight()) > 0 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
      expect(await inflight()).toBe(0);
      const generated = (await metric('tessera_generated_tokens_total')) - before;
      console.log(`${rt.name}: ${generated} tokens generated before the disconnect stopped it`);
      expect(generated).toBeGreaterThan(0);
      expect(generated).toBeLessThan(1000);
      const ok = await ollama.generate({ model: 'tiny', prompt: 'hi', raw: true, options: { num_predict: 1 } });
      expect(ok.done).toBe(true);
    });

    it('curl: an NDJSON stream and an SSE stream', () => {
      const nd = execFileSync('curl', ['-sN', '--max-time', '60', '-d', JSON.stringify({ model: 'tiny', prompt: 'hello', raw: true, options: { num_predict: 3 } }), `${base}/api/generate`], { encoding: 'utf8' });
      const lines = nd.trim().split('\n').map((l) => JSON.parse(l));
      expect(lines.at(-1).done).toBe(true);
      expect(lines.at(-1).eval_count).toBeGreaterThan(0);
      const sse = execFileSync('curl', ['-sN', '--max-time', '60', '-H', 'content-type: application/json', '-d', JSON.stringify({ model: 'tiny', stream: true, max_tokens: 3, messages: [{ role: 'user', content: 'hi' }] }), `${base}/v1/chat/completions`], { encoding: 'utf8' });
      const events = sse.split('\n\n').filter(Boolean);
      expect(events.every((e) => e.startsWith('data: '))).toBe(true);
      expect(events.at(-1)).toBe('data: [DONE]');
      expect(JSON.parse(events[0].slice(6)).object).toBe('chat.completion.chunk');
    });
  });
}
