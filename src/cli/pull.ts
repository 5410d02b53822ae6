/** `tessera pull MODEL|URL [--insecure]`: pulls through the server (POST /api/pull), showing progress. */
import { parseArgs } from 'node:util';
import { UsageError } from './args.ts';
import { httpFetcher, streamJson } from './client.ts';
import type { Command } from './command.ts';
import { type ProgressLine, ProgressPrinter } from './progress.ts';

const HELP = `usage: tessera pull MODEL [--insecure]
       tessera pull URL

Pulls MODEL ([host/][namespace/]model[:tag], default host registry.ollama.ai) from an Ollama-compatible
registry, or a GGUF file from an http(s) URL (append #sha256=<hex> to have it verified). Interrupted
downloads resume. Progress goes to stderr: a bar on a terminal, plain lines otherwise.
  --insecure   use http instead of https for the registry`;

export const pull: Command = {
  name: 'pull',
  summary: 'pull a model from a registry or a GGUF URL',
  help: HELP,
  async run(args) {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { insecure: { type: 'boolean' } } });
    if (positionals.length !== 1) throw new UsageError('pull: expected one MODEL or URL', HELP);
    const bar = new ProgressPrinter();
    try {
      for await (const p of streamJson<ProgressLine>(httpFetcher(), '/api/pull', { model: positionals[0], insecure: values.insecure ?? false })) bar.update(p);
    } finally {
      bar.end();
    }
    return 0;
  },
};
