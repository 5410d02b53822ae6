/** `tessera ps`: the loaded models (GET /api/ps), as `ollama ps` prints them. */
import { humanBytes, humanSince, table, UsageError } from './args.ts';
import { callJson, httpFetcher } from './client.ts';
import type { Command } from './command.ts';

interface Loaded {
  name: string;
  digest: string;
  size: number;
  expires_at: string;
  context_length: number;
}

export const ps: Command = {
  name: 'ps',
  summary: 'list the loaded models',
  help: 'usage: tessera ps\n\nLists the models loaded by the server at TESSERA_HOST: NAME, ID, SIZE (memory), PROCESSOR, CONTEXT, UNTIL.',
  async run(args) {
    if (args.length) throw new UsageError(`ps: unexpected argument '${args[0]}'`, ps.help);
    const { models } = await callJson<{ models: Loaded[] }>(httpFetcher(), 'GET', '/api/ps');
    const until = (iso: string) => (Date.parse(iso) > Date.now() + 100 * 365 * 86400e3 ? 'Forever' : humanSince(iso));
    console.log(table([['NAME', 'ID', 'SIZE', 'PROCESSOR', 'CONTEXT', 'UNTIL'], ...models.map((m) => [m.name, m.digest.slice(0, 12), humanBytes(m.size), '100% CPU', String(m.context_length), until(m.expires_at)])]));
    return 0;
  },
};
