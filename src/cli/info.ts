/** `tessera info FILE.gguf`: a GGUF file's metadata and tensor summary as JSON. */
import { openGguf } from '../gguf/reader.ts';
import { GgmlType } from '../gguf/types.ts';
import { UsageError } from './args.ts';
import type { Command } from './command.ts';

export const info: Command = {
  name: 'info',
  summary: "print a GGUF file's metadata and tensor summary",
  help: 'usage: tessera info FILE.gguf',
  async run(args) {
    const [path] = args;
    if (!path || args.length > 1) throw new UsageError('info: expected one FILE.gguf', info.help);
    const f = await openGguf(path);
    const meta: Record<string, unknown> = {};
    for (const [k, v] of f.metadata) meta[k] = Array.isArray(v) || ArrayBuffer.isView(v) ? `[${(v as ArrayLike<unknown>).length} items]` : typeof v === 'bigint' ? v.toString() : v;
    const byType: Record<string, number> = {};
    for (const t of f.tensors) byType[GgmlType[t.type] ?? t.type] = (byType[GgmlType[t.type] ?? t.type] ?? 0) + 1;
    console.log(JSON.stringify({ path: f.path, version: f.version, tensors: f.tensors.length, tensorTypes: byType, metadata: meta }, null, 2));
    return 0;
  },
};
