/** `tessera list`: the models of the server's store (GET /api/tags), as `ollama list` prints them. */
import { humanBytes, humanSince, table, UsageError } from './args.ts';
import { callJson, httpFetcher } from './client.ts';
import type { Command } from './command.ts';

interface Tag {
  name: string;
  digest: string;
  size: number;
  modified_at: string;
}

export const list: Command = {
  name: 'list',
  aliases: ['ls'],
  summary: 'list the models in the store (Tessera\'s and Ollama\'s)',
  help: 'usage: tessera list\n\nLists the models the server at TESSERA_HOST can run: NAME, ID (manifest digest), SIZE, MODIFIED.',
  async run(args) {
    if (args.length) throw new UsageError(`list: unexpected argument '${args[0]}'`, list.help);
    const { models } = await callJson<{ models: Tag[] }>(httpFetcher(), 'GET', '/api/tags');
    console.log(table([['NAME', 'ID', 'SIZE', 'MODIFIED'], ...models.map((m) => [m.name, m.digest.slice(0, 12), humanBytes(m.size), humanSince(m.modified_at)])]));
    return 0;
  },
};
