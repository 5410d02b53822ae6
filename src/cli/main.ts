#!/usr/bin/env node
/**
 * The `tessera` command line.
 *
 *   tessera serve [--host H] [--port P]  the HTTP server (Ollama + OpenAI APIs); `serve --help` lists the environment
 *   tessera run <model.gguf> [prompt]   generate (reads the prompt from stdin when omitted)
 *   tessera info <model.gguf>           print the model's metadata and tensor summary
 *   tessera quantize <in.gguf> <out.gguf> <TYPE>
 *                                       quantize an F32/F16/BF16 model (Q8_0, Q4_0, Q4_K_M, ...)
 *
 * Exit codes: 0 success, 1 runtime error (bad model, ...), 2 usage error.
 */
import { parseArgs } from 'node:util';
import { createEngine } from '../engine.ts';
import { TesseraError } from '../errors.ts';
import { openGguf } from '../gguf/reader.ts';
import { ggmlTypeName } from '../gguf/ggml-types.ts';
import { GgmlType } from '../gguf/types.ts';
import { QUANT_TARGETS, quantTarget, quantizeGguf } from '../quantize/index.ts';
import { ConfigError, configHelp, loadServerConfig } from '../server/config.ts';
import { serveNode } from '../server/node.ts';

const USAGE = `usage:
  tessera serve [--host HOST] [--port PORT]      (tessera serve --help: configuration variables)
  tessera run <model.gguf> [prompt] [--threads N] [--num-predict N] [--temperature T] [--seed S] [--ctx N] [--raw] [--system TEXT]
  tessera info <model.gguf>
  tessera quantize <in.gguf> <out.gguf> <TYPE>   TYPE: ${[...QUANT_TARGETS.keys()].join(', ')}`;

class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '-h' || cmd === '--help') {
    console.log(USAGE);
    return cmd ? 0 : 2;
  }
  if (cmd === 'serve') return serve(rest);
  if (cmd === 'run') return run(rest);
  if (cmd === 'info') return info(rest);
  if (cmd === 'quantize') return quantize(rest);
  throw new UsageError(`unknown command '${cmd}'`);
}

function num(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} expects a number, got '${v}'`);
  return n;
}

const SERVE_HELP = () => `usage: tessera serve [--host HOST] [--port PORT]

Serves Ollama's API (/api/*) and OpenAI's (/v1/*) on HOST:PORT (default 127.0.0.1:11434; flags override TESSERA_HOST).

Environment:
${configHelp()}`;

async function serve(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { host: { type: 'string' }, port: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) {
    console.log(SERVE_HELP());
    return 0;
  }
  let config;
  try {
    config = loadServerConfig();
  } catch (e) {
    if (e instanceof ConfigError) throw new UsageError(e.message);
    throw e;
  }
  if (values.host !== undefined) config.host = values.host;
  const port = num(values.port, 'port');
  if (port !== undefined) {
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`--port expects 0..65535, got '${values.port}'`);
    config.port = port;
  }
  await serveNode(config);
  return new Promise<number>(() => {}); // runs until SIGINT/SIGTERM
}

async function quantize(args: string[]): Promise<number> {
  const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
  if (positionals.length !== 3) throw new UsageError('quantize: expected <in.gguf> <out.gguf> <TYPE>');
  const [input, output, type] = positionals;
  if (!quantTarget(type)) throw new UsageError(`quantize: unknown type '${type}' (one of ${[...QUANT_TARGETS.keys()].join(', ')})`);
  const t0 = performance.now();
  const r = await quantizeGguf(input, output, type);
  const counts = new Map<string, number>();
  for (const ty of r.types.values()) counts.set(ggmlTypeName(ty), (counts.get(ggmlTypeName(ty)) ?? 0) + 1);
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  console.error(`${output}: ${[...counts].map(([k, n]) => `${n}× ${k}`).join(', ')}; ${mib(r.bytesIn)} MiB → ${mib(r.bytesOut)} MiB of tensors in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return 0;
}

async function run(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      threads: { type: 'string', short: 't' },
      'num-predict': { type: 'string', short: 'n' },
      temperature: { type: 'string' },
      seed: { type: 'string' },
      ctx: { type: 'string' },
      raw: { type: 'boolean' },
      system: { type: 'string' },
    },
  });
  const [model, ...words] = positionals;
  if (!model) throw new UsageError('run: missing <model.gguf>');
  let prompt = words.join(' ');
  if (!prompt) prompt = await readStdin();
  const engine = await createEngine({ model, threads: num(values.threads, 'threads'), numCtx: num(values.ctx, 'ctx') });
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  try {
    const gen = engine.generate({
      prompt,
      raw: values.raw,
      system: values.system,
      signal: ac.signal,
      options: { num_predict: num(values['num-predict'], 'num-predict'), temperature: num(values.temperature, 'temperature'), seed: num(values.seed, 'seed') },
    });
    for await (const chunk of gen) process.stdout.write(chunk.text);
    process.stdout.write('\n');
    const s = gen.stats;
    if (s) {
      const rate = (n: number, ns: number) => (ns > 0 ? ((n * 1e9) / ns).toFixed(1) : '-');
      process.stderr.write(`prompt: ${s.promptTokens} tokens (${s.cachedTokens} cached), ${rate(s.promptTokens - s.cachedTokens, s.promptEvalNs)} tok/s; generated: ${s.evalCount} tokens, ${rate(s.evalCount, s.evalNs)} tok/s; done: ${gen.doneReason}\n`);
    }
  } finally {
    await engine.close();
  }
  return 0;
}

async function info(args: string[]): Promise<number> {
  const [path] = args;
  if (!path) throw new UsageError('info: missing <model.gguf>');
  const f = await openGguf(path);
  const meta: Record<string, unknown> = {};
  for (const [k, v] of f.metadata) meta[k] = Array.isArray(v) || ArrayBuffer.isView(v) ? `[${(v as ArrayLike<unknown>).length} items]` : typeof v === 'bigint' ? v.toString() : v;
  const byType: Record<string, number> = {};
  for (const t of f.tensors) byType[GgmlType[t.type] ?? t.type] = (byType[GgmlType[t.type] ?? t.type] ?? 0) + 1;
  console.log(JSON.stringify({ path: f.path, version: f.version, tensors: f.tensors.length, tensorTypes: byType, metadata: meta }, null, 2));
  return 0;
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new UsageError('run: give a prompt argument or pipe one on stdin');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    if (e instanceof UsageError || (e as { code?: string })?.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
      console.error(`tessera: ${(e as Error).message}\n${USAGE}`);
      process.exit(2);
    }
    if (e instanceof TesseraError) {
      console.error(`tessera: ${e.message}`);
      process.exit(1);
    }
    console.error(e);
    process.exit(1);
  },
);
