/**
 * `tessera create MODEL [-f Modelfile] [-q TYPE]`: creates a model from a Modelfile (POST /api/create).
 * A FROM that names a local file is uploaded as a blob first (POST /api/blobs/:digest), so it also works
 * against a server on another machine; a FROM that names a model is resolved by the server.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { parseModelfile } from '../server/ollama/modelfile.ts';
import { CliError, UsageError } from './args.ts';
import { callJson, type Fetcher, httpFetcher, streamJson } from './client.ts';
import type { Command } from './command.ts';

const HELP = `usage: tessera create MODEL [-f Modelfile] [-q TYPE]

Creates MODEL from a Modelfile (default ./Modelfile): FROM <model or path.gguf>, TEMPLATE, SYSTEM, PARAMETER.
  -f, --file FILE        the Modelfile
  -q, --quantize TYPE    quantize the weights (Q8_0, Q4_0, Q4_K_M, ...)`;

function sha256File(path: string): Promise<string> {
  return new Promise((res, rej) => {
    const h = createHash('sha256');
    createReadStream(path).on('data', (d) => h.update(d)).on('error', rej).on('end', () => res(h.digest('hex')));
  });
}

async function upload(f: Fetcher, path: string): Promise<string> {
  const digest = `sha256:${await sha256File(path)}`;
  const head = await f(`/api/blobs/${digest}`, { method: 'HEAD' });
  if (head.status === 200) return digest;
  const size = (await stat(path)).size;
  const body = Readable.toWeb(createReadStream(path)) as ReadableStream<Uint8Array>;
  const res = await f(`/api/blobs/${digest}`, { method: 'POST', body, headers: { 'Content-Length': String(size) }, duplex: 'half' } as RequestInit);
  if (!res.ok) throw new CliError(`uploading ${path}: ${(await res.text()) || `HTTP ${res.status}`}`);
  return digest;
}

export const create: Command = {
  name: 'create',
  summary: 'create a model from a Modelfile',
  help: HELP,
  async run(args) {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { file: { type: 'string', short: 'f' }, quantize: { type: 'string', short: 'q' } } });
    if (positionals.length !== 1) throw new UsageError('create: expected one MODEL name', HELP);
    const file = resolve(values.file ?? 'Modelfile');
    if (!existsSync(file)) throw new UsageError(`create: no Modelfile at ${file} (give one with -f)`, HELP);
    const modelfile = await readFile(file, 'utf8');
    const mf = parseModelfile(modelfile);
    const f = httpFetcher();
    const body: Record<string, unknown> = { model: positionals[0], modelfile, quantize: values.quantize };
    if (mf.from) {
      const p = resolve(dirname(file), mf.from.replace(/^~(?=\/)/, homedir()));
      if (existsSync(p)) {
        process.stderr.write(`uploading ${p}\n`);
        body.files = { 'model.gguf': await upload(f, p) };
      }
    }
    for await (const line of streamJson<{ status: string }>(f, '/api/create', body)) process.stderr.write(`${line.status}\n`);
    return 0;
  },
};
