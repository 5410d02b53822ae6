/** `tessera cp SOURCE DESTINATION`: copies a model (POST /api/copy); layers are shared, not duplicated. */
import { UsageError } from './args.ts';
import { callJson, httpFetcher } from './client.ts';
import type { Command } from './command.ts';

export const cp: Command = {
  name: 'cp',
  summary: 'copy a model under a new name',
  help: 'usage: tessera cp SOURCE DESTINATION',
  async run(args) {
    if (args.length !== 2 || args.some((a) => a.startsWith('-'))) throw new UsageError('cp: expected SOURCE and DESTINATION', cp.help);
    await callJson(httpFetcher(), 'POST', '/api/copy', { source: args[0], destination: args[1] });
    console.log(`copied '${args[0]}' to '${args[1]}'`);
    return 0;
  },
};
