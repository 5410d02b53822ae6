/**
 * `tessera run MODEL [PROMPT]`: generates, streaming to stdout.
 *   - MODEL a path to a .gguf file: loads it in this process (no server, no store).
 *   - MODEL a name: through the server at TESSERA_HOST when it answers, otherwise through an in-process app
 *     over the same store (so stored template/system/parameters apply either way).
 *   - no PROMPT: an interactive chat on a terminal (`/bye` or Ctrl-D ends it, history kept), or the whole of
 *     piped stdin as the prompt.
 */
import { existsSync, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { createEngine } from '../engine.ts';
import { BACKEND_KINDS, type BackendRequest } from '../hardware/select.ts';
import { createApp } from '../server/app.ts';
import { loadServerConfig } from '../server/config.ts';
import { num, UsageError } from './args.ts';
import { type Fetcher, httpFetcher, serverReachable, streamJson } from './client.ts';
import type { Command } from './command.ts';

const HELP = `usage: tessera run MODEL [PROMPT] [options]

MODEL is a model name (see 'tessera list') or a path to a .gguf file. Without PROMPT: an interactive chat
on a terminal (/bye or Ctrl-D to leave), or piped stdin as the prompt.
  -n, --num-predict N    most tokens to generate
      --temperature T    sampling temperature
      --seed S           sampling seed
      --ctx N            context length (num_ctx)
  -t, --threads N        worker threads (in-process runs)
      --backend KIND     auto, wasm, webgpu, native or cuda (in-process runs; an unavailable one exits 1)
      --system TEXT      system prompt
      --raw              no chat template: the prompt as is
      --verbose          timings on stderr after each answer`;

interface Flags {
  options: Record<string, number | undefined>;
  system?: string;
  raw?: boolean;
  verbose?: boolean;
  threads?: number;
  backend?: BackendRequest;
}

function parseBackendFlag(v: string): BackendRequest {
  if (v === 'auto' || (BACKEND_KINDS as readonly string[]).includes(v)) return v as BackendRequest;
  throw new UsageError(`run: --backend must be auto, ${BACKEND_KINDS.join(', ')}; got '${v}'`, HELP);
}

const isPath = (m: string) => (m.endsWith('.gguf') || m.includes('/') || m.startsWith('.')) && existsSync(m) && statSync(m).isFile();

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function rate(n: number, ns: number): string {
  return ns > 0 ? ((n * 1e9) / ns).toFixed(1) : '-';
}

export const run: Command = {
  name: 'run',
  summary: 'run a model: one prompt, or an interactive chat',
  help: HELP,
  async run(args) {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        threads: { type: 'string', short: 't' },
        backend: { type: 'string' },
        'num-predict': { type: 'string', short: 'n' },
        temperature: { type: 'string' },
        seed: { type: 'string' },
        ctx: { type: 'string' },
        raw: { type: 'boolean' },
        system: { type: 'string' },
        verbose: { type: 'boolean' },
      },
    });
    const [model, ...words] = positionals;
    if (!model) throw new UsageError('run: missing MODEL', HELP);
    const flags: Flags = {
      options: { num_predict: num(values['num-predict'], 'num-predict', HELP), temperature: num(values.temperature, 'temperature', HELP), seed: num(values.seed, 'seed', HELP), num_ctx: num(values.ctx, 'ctx', HELP) },
      system: values.system,
      raw: values.raw,
      verbose: values.verbose,
      threads: num(values.threads, 'threads', HELP),
      backend: values.backend === undefined ? undefined : parseBackendFlag(values.backend),
    };
    for (const k of Object.keys(flags.options)) if (flags.options[k] === undefined) delete flags.options[k];
    let prompt = words.join(' ');
    const interactive = !prompt && !!process.stdin.isTTY;
    if (!prompt && !interactive) prompt = await readStdin();
    if (isPath(model)) {
      if (interactive) throw new UsageError('run: give a prompt (or pipe one on stdin) when MODEL is a file path', HELP);
      return runFile(model, prompt, flags);
    }
    let fetcher: Fetcher;
    let close = async () => {};
    if (await serverReachable()) fetcher = httpFetcher();
    else {
      const app = createApp({ ...loadServerConfig(), log: 'off', threads: flags.threads, backend: flags.backend });
      fetcher = async (path, init) => app.request(path, init);
      close = () => app.close();
    }
    try {
      return interactive ? await chat(fetcher, model, flags) : await once(fetcher, model, prompt, flags);
    } finally {
      await close();
    }
  },
};

interface Final {
  response?: string;
  message?: { content?: string };
  done?: boolean;
  prompt_eval_count?: number;
  prompt_eval_duration?: number;
  eval_count?: number;
  eval_duration?: number;
  done_reason?: string;
}

function stats(f: Final): void {
  process.stderr.write(`prompt: ${f.prompt_eval_count ?? 0} tokens, ${rate(f.prompt_eval_count ?? 0, f.prompt_eval_duration ?? 0)} tok/s; generated: ${f.eval_count ?? 0} tokens, ${rate(f.eval_count ?? 0, f.eval_duration ?? 0)} tok/s; done: ${f.done_reason ?? '-'}\n`);
}

async function once(f: Fetcher, model: string, prompt: string, flags: Flags): Promise<number> {
  const ac = new AbortController();
  const onInt = () => ac.abort();
  process.once('SIGINT', onInt);
  try {
    let last: Final = {};
    for await (const c of streamJson<Final>(f, '/api/generate', { model, prompt, system: flags.system, raw: flags.raw, options: flags.options, stream: true }, ac.signal)) {
      if (c.response) process.stdout.write(c.response);
      last = c;
    }
    process.stdout.write('\n');
    if (flags.verbose) stats(last);
    return 0;
  } finally {
    process.off('SIGINT', onInt);
  }
}

async function chat(f: Fetcher, model: string, flags: Flags): Promise<number> {
  const rl = createInterface({ input: process.stdin, output: process.stdout, prompt: '>>> ' });
  const messages: { role: string; content: string }[] = flags.system ? [{ role: 'system', content: flags.system }] : [];
  process.stdout.write('(/bye or Ctrl-D to leave)\n');
  rl.prompt();
  try {
    // The async iterator buffers lines typed (or pasted) while an answer streams.
    for await (const line of rl) {
      const text = line.trim();
      if (text === '/bye' || text === '/exit') break;
      if (text) {
        messages.push({ role: 'user', content: text });
        let answer = '';
        let last: Final = {};
        for await (const c of streamJson<Final>(f, '/api/chat', { model, messages, options: flags.options, stream: true })) {
          const piece = c.message?.content ?? '';
          answer += piece;
          process.stdout.write(piece);
          last = c;
        }
        process.stdout.write('\n\n');
        if (flags.verbose) stats(last);
        messages.push({ role: 'assistant', content: answer });
      }
      rl.prompt();
    }
  } finally {
    rl.close();
  }
  return 0;
}

async function runFile(model: string, prompt: string, flags: Flags): Promise<number> {
  const engine = await createEngine({ model, threads: flags.threads, numCtx: flags.options.num_ctx, backend: flags.backend });
  const ac = new AbortController();
  const onInt = () => ac.abort();
  process.once('SIGINT', onInt);
  try {
    const { num_ctx: _, ...options } = flags.options;
    const gen = engine.generate({ prompt, raw: flags.raw, system: flags.system, signal: ac.signal, options });
    for await (const chunk of gen) process.stdout.write(chunk.text);
    process.stdout.write('\n');
    const s = gen.stats;
    if (s && flags.verbose) {
      process.stderr.write(`prompt: ${s.promptTokens} tokens (${s.cachedTokens} cached), ${rate(s.promptTokens - s.cachedTokens, s.promptEvalNs)} tok/s; generated: ${s.evalCount} tokens, ${rate(s.evalCount, s.evalNs)} tok/s; done: ${gen.doneReason}\n`);
    }
  } finally {
    process.off('SIGINT', onInt);
    await engine.close();
  }
  return 0;
}
