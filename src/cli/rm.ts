/** `tessera rm MODEL...`: deletes models from Tessera's store (DELETE /api/delete). */
import { UsageError } from './args.ts';
import { callJson, httpFetcher } from './client.ts';
import type { Command } from './command.ts';

export const rm: Command = {
  name: 'rm',
  summary: 'remove models from the store',
  help: "usage: tessera rm MODEL [MODEL...]\n\nDeletes each model's manifest and the blobs no other model uses. Models in Ollama's store are read only.",
  async run(args) {
    if (!args.length || args.some((a) => a.startsWith('-'))) throw new UsageError('rm: expected one or more MODEL names', rm.help);
    const f = httpFetcher();
    for (const model of args) {
      await callJson(f, 'DELETE', '/api/delete', { model });
      console.log(`deleted '${model}'`);
    }
    return 0;
  },
};
