/** `tessera serve [--host H] [--port P]`: the HTTP server (Ollama + OpenAI APIs). */
import { parseArgs } from 'node:util';
import { ConfigError, configHelp, loadServerConfig } from '../server/config.ts';
import { serveNode } from '../server/node.ts';
import { num, UsageError } from './args.ts';
import type { Command } from './command.ts';

const help = () => `usage: tessera serve [--host HOST] [--port PORT]

Serves Ollama's API (/api/*) and OpenAI's (/v1/*) on HOST:PORT (default 127.0.0.1:11434; flags override TESSERA_HOST).

Environment:
${configHelp()}`;

export const serve: Command = {
  name: 'serve',
  summary: 'start the server (Ollama + OpenAI APIs)',
  get help() {
    return help();
  },
  async run(args) {
    const { values } = parseArgs({ args, options: { host: { type: 'string' }, port: { type: 'string' } } });
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
  },
};
