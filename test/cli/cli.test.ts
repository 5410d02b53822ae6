/**
 * The built CLI (dist/src/cli/main.js, from `npm run build`) spawned against a server on a free loopback
 * port (in this process) and a loopback registry: exit codes, help, pull/list/show/cp/rm/create, and run
 * through the server, in-process (no server), with piped stdin, and on a GGUF path.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addModel, type Registry, startRegistry } from '../helpers/registry.ts';
import { makeModelsDir, type TestApp, testApp } from '../server/fixtures.ts';

const ROOT = join(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/src/cli/main.js');

interface Out {
  code: number;
  stdout: string;
  stderr: string;
}

describe.skipIf(!existsSync(CLI))('tessera CLI (skipped when dist/ is not built: npm run build)', () => {
  let dir: string;
  let app: TestApp;
  let server: ReturnType<typeof serve>;
  let host: string;
  let reg: Registry;
  const work = join(tmpdir(), `tessera-cli-${process.pid}`);

  const cli = (args: string[], opts: { env?: Record<string, string>; input?: string } = {}): Promise<Out> =>
    new Promise((resolve) => {
      const child = execFile(process.execPath, [CLI, ...args], { cwd: work, env: { ...process.env, TESSERA_HOST: host, TESSERA_HOME: work, OLLAMA_MODELS: 'off', TESSERA_MODELS: dir, TESSERA_THREADS: '1', ...opts.env }, timeout: 120_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
      if (opts.input !== undefined) child.stdin!.end(opts.input);
      else child.stdin!.end();
    });

  beforeAll(async () => {
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    dir = await makeModelsDir('cli');
    app = testApp(dir);
    server = await new Promise((resolve) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve(s));
    });
    host = `127.0.0.1:${(server.address() as { port: number }).port}`;
    reg = await startRegistry();
    addModel(reg, 'library/pulled:latest', [['application/vnd.ollama.image.model', readFileSync(join(dir, 'tiny.gguf'))]]);
  });
  afterAll(async () => {
    await new Promise((r) => server?.close(r));
    await app?.close();
    await reg?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('help and exit codes: --help 0, no command 2, unknown command 2, bad flag 2, server down 1', async () => {
    const help = await cli(['--help']);
    expect(help.code).toBe(0);
    for (const c of ['serve', 'run', 'pull', 'list', 'ps', 'show', 'rm', 'cp', 'create', 'quantize', 'bench']) expect(help.stdout).toMatch(new RegExp(`^  ${c}\\b`, 'm'));
    expect((await cli([])).code).toBe(2);
    const unknown = await cli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'frobnicate'");
    const pullHelp = await cli(['pull', '--help']);
    expect(pullHelp.code).toBe(0);
    expect(pullHelp.stdout).toContain('usage: tessera pull');
    const bad = await cli(['list', '--nope']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('usage: tessera list');
    expect((await cli(['cp', 'only-one'])).code).toBe(2);
    const down = await cli(['list'], { env: { TESSERA_HOST: '127.0.0.1:9' } });
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('could not connect to the tessera server at http://127.0.0.1:9');
  });

  it('pull (plain progress lines off a TTY), list, show, cp, rm; errors from the server exit 1 with its message', async () => {
    const name = `${reg.host}/library/pulled:latest`;
    const p = await cli(['pull', `${reg.host}/library/pulled`, '--insecure']);
    expect(p.code, p.stderr).toBe(0);
    const lines = p.stderr.trim().split('\n');
    expect(lines[0]).toBe('pulling manifest');
    expect(lines.at(-1)).toBe('success');
    expect(p.stderr).not.toContain('\r'); // no bar redraws when stderr is not a terminal
    const l = await cli(['list']);
    expect(l.code).toBe(0);
    expect(l.stdout.split('\n')[0]).toMatch(/^NAME\s+ID\s+SIZE\s+MODIFIED$/);
    expect(l.stdout).toContain(name);
    expect(l.stdout).toMatch(/^tiny:latest\s+[0-9a-f]{12}\s/m);
    const s = await cli(['show', 'tiny']);
    expect(s.code).toBe(0);
    expect(s.stdout).toMatch(/architecture\s+llama/);
    expect(s.stdout).toMatch(/embedding length\s+64/);
    expect((await cli(['cp', name, 'copied:v2'])).code).toBe(0);
    expect((await cli(['ls'])).stdout).toContain('copied:v2');
    const r = await cli(['rm', 'copied:v2']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("deleted 'copied:v2'");
    expect((await cli(['list'])).stdout).not.toContain('copied:v2');
    const nf = await cli(['rm', 'copied:v2']);
    expect(nf.code).toBe(1);
    expect(nf.stderr).toContain("model 'copied:v2' not found");
    const esc = await cli(['show', '../../etc/passwd']);
    expect(esc.code).toBe(1);
    expect(esc.stderr).toContain('invalid model name');
    const nopull = await cli(['pull', `${reg.host}/library/absent`, '--insecure']);
    expect(nopull.code).toBe(1);
    expect(nopull.stderr).toContain('absent');
  });

  it('create -f Modelfile: a relative FROM file is uploaded as a blob; show --system prints the stored system', async () => {
    writeFileSync(join(work, 'tiny-copy.gguf'), readFileSync(join(dir, 'tiny.gguf')));
    writeFileSync(join(work, 'Modelfile'), 'FROM ./tiny-copy.gguf\nSYSTEM """Answer in haiku."""\nPARAMETER num_predict 4\n');
    const c = await cli(['create', 'haiku', '-f', 'Modelfile']);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stderr).toContain('uploading');
    expect((await cli(['show', 'haiku', '--system'])).stdout.trim()).toBe('Answer in haiku.');
    expect((await cli(['show', 'haiku', '--parameters'])).stdout).toMatch(/num_predict\s+4/);
    const missing = await cli(['create', 'x', '-f', 'NoSuchModelfile']);
    expect(missing.code).toBe(2);
  });

  it('run: through the server, in-process without one, from piped stdin and on a file path give the same greedy text', async () => {
    const flags = ['-n', '8', '--temperature', '0', '--seed', '1', '--raw'];
    const viaServer = await cli(['run', 'tiny', 'hello world', ...flags]);
    expect(viaServer.code, viaServer.stderr).toBe(0);
    expect(viaServer.stdout.trim().length).toBeGreaterThan(0);
    expect(app.state.loader.list().map((m) => m.name)).toContain('tiny:latest'); // it ran in the server
    const inProcess = await cli(['run', 'tiny', 'hello world', ...flags], { env: { TESSERA_HOST: '127.0.0.1:9' } });
    expect(inProcess.code, inProcess.stderr).toBe(0);
    expect(inProcess.stdout).toBe(viaServer.stdout);
    const piped = await cli(['run', 'tiny', ...flags], { input: 'hello world' });
    expect(piped.code).toBe(0);
    expect(piped.stdout).toBe(viaServer.stdout);
    const path = await cli(['run', join(dir, 'tiny.gguf'), 'hello world', ...flags, '--verbose']);
    expect(path.code, path.stderr).toBe(0);
    expect(path.stdout).toBe(viaServer.stdout);
    expect(path.stderr).toMatch(/generated: \d+ tokens/);
    const unknown = await cli(['run', 'not-there', 'hi']);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("model 'not-there' not found");
    expect((await cli(['run'])).code).toBe(2);
  });

  // `script` gives the CLI a pseudo-terminal (stdin, stdout and stderr are TTYs); input typed ahead is buffered.
  const tty = (cmd: string, input: string) => new Promise<Out>((resolve) => {
    const child = execFile('script', ['-qec', `${JSON.stringify(process.execPath)} ${JSON.stringify(CLI)} ${cmd}`, '/dev/null'], { cwd: work, env: { ...process.env, TESSERA_HOST: host, TESSERA_HOME: work, OLLAMA_MODELS: 'off', TESSERA_MODELS: dir }, timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
    child.stdin!.end(input);
  });
  const hasScript = existsSync('/usr/bin/script');

  it.skipIf(!hasScript)('run on a terminal without a prompt is a chat: each line gets an answer with the history, /bye ends it (skipped without util-linux script)', async () => {
    const chats = async () => (await (await app.request('/metrics')).text()).split('\n').filter((l) => l.startsWith('tessera_http_requests_total') && l.includes('route="/api/chat"')).reduce((a, l) => a + Number(l.split(' ').at(-1)), 0);
    const before = await chats();
    const r = await tty('run tiny -n 3 --temperature 0', 'hello\nagain\n/bye\n');
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain('(/bye or Ctrl-D to leave)');
    expect(r.stdout.split('>>> ').length - 1).toBe(3); // a prompt before each line read
    expect((await chats()) - before).toBe(2);
  });

  it.skipIf(!hasScript)('pull on a terminal draws a progress bar per layer (skipped without util-linux script)', async () => {
    const r = await tty(`pull ${reg.host}/library/pulled:bar --insecure`, '');
    expect(r.code).toBe(1); // no such tag: the error, then exit 1
    reg.manifests.set('library/pulled:bar', reg.manifests.get('library/pulled:latest')!);
    const ok = await tty(`pull ${reg.host}/library/pulled:bar --insecure`, '');
    expect(ok.code, ok.stdout).toBe(0);
    expect(ok.stdout).toMatch(/\rpulling [0-9a-f]{12}\s+100% ▕█{30}▏/);
    expect(ok.stdout).toContain('success');
  });

  it('ps lists the model loaded by run', async () => {
    const r = await cli(['ps']);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n')[0]).toMatch(/^NAME\s+ID\s+SIZE\s+PROCESSOR\s+CONTEXT\s+UNTIL$/);
    expect(r.stdout).toMatch(/^tiny:latest\s+[0-9a-f]{12}\s+.*\s2048\s/m);
  });
});
