/**
 * `tessera cache ls|export`: the storage the server keeps its KV prefix pages (and image tensors) in, read
 * without the server. `export` writes each entry as a plain `.safetensors` file, so other tools (PyTorch,
 * numpy, safetensors) can read what Tessera cached; README.md "Cache format" documents the metadata.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadServerConfig } from '../server/config.ts';
import { createStorage, encodeSafetensors, type Storage, type StoredValue } from '../storage/index.ts';
import { CliError, humanBytes, UsageError } from './args.ts';
import type { Command } from './command.ts';

const HELP = `usage: tessera cache ls [--prefix P] [--session S] [--json] [--storage URL]
       tessera cache export [--out DIR] [--prefix P] [--session S] [--storage URL]

  ls        list cached entries: key, kind, size, tensors
  export    write each entry as DIR/<key>.safetensors (default DIR: ./tessera-cache-export) and DIR/index.json

  --prefix P     only keys starting with P (e.g. kv/ for KV pages, img/ for image tensors)
  --session S    only entries tagged with session S (metadata "session")
  --storage URL  the storage to read (default: the server's, from TESSERA_STORAGE / TESSERA_STORAGE_URL /
                 TESSERA_HOME: a directory, or redis://host:port/db)`;

interface Entry {
  key: string;
  value: StoredValue;
}

async function openStorage(url: string | undefined): Promise<Storage> {
  if (url) return createStorage(url);
  const cfg = loadServerConfig();
  if (cfg.storage === 'off') throw new CliError('cache: storage is off (TESSERA_STORAGE=off); pass --storage URL');
  if (cfg.storage === 'memory') throw new CliError('cache: TESSERA_STORAGE=memory lives only inside a server process; pass --storage URL');
  return createStorage(cfg.storageUrl!);
}

async function* entries(st: Storage, prefix: string, session: string | undefined): AsyncGenerator<Entry> {
  const keys = (await st.list(prefix)).sort();
  for (const key of keys) {
    const value = await st.get(key); // null: evicted meanwhile, or corrupt (the driver drops it)
    if (!value) continue;
    if (session !== undefined && value.meta.session !== session) continue;
    yield { key, value };
  }
}

const kindOf = (v: StoredValue) => v.meta.format ?? v.meta.kind ?? 'unknown';
const bytesOf = (v: StoredValue) => v.tensors.reduce((a, t) => a + t.bytes.length, 0);

export const cache: Command = {
  name: 'cache',
  summary: 'list or export cached KV pages and image tensors as .safetensors',
  help: HELP,
  async run(args) {
    const { positionals, values } = parseArgs({
      args,
      allowPositionals: true,
      options: { prefix: { type: 'string' }, session: { type: 'string' }, storage: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' } },
    });
    const [sub, ...extra] = positionals;
    if ((sub !== 'ls' && sub !== 'export') || extra.length) throw new UsageError(sub ? `cache: unknown subcommand '${[sub, ...extra].join(' ')}'` : 'cache: expected ls or export', HELP);
    const st = await openStorage(values.storage);
    try {
      const prefix = values.prefix ?? '';
      if (sub === 'ls') {
        const rows: { key: string; kind: string; bytes: number; tensors: string; session?: string }[] = [];
        for await (const { key, value } of entries(st, prefix, values.session)) {
          rows.push({ key, kind: kindOf(value), bytes: bytesOf(value), tensors: value.tensors.map((t) => `${t.name} ${t.dtype}[${t.shape.join(',')}]`).join(' '), ...(value.meta.session ? { session: value.meta.session } : {}) });
        }
        if (values.json) console.log(JSON.stringify(rows, null, 2));
        else {
          for (const r of rows) console.log(`${r.key}  ${r.kind}  ${humanBytes(r.bytes)}  ${r.tensors}`);
          console.error(`${rows.length} entries, ${humanBytes(rows.reduce((a, r) => a + r.bytes, 0))} (${st.name} storage)`);
        }
        return 0;
      }
      const out = resolve(values.out ?? 'tessera-cache-export');
      const index: { key: string; file: string; metadata: Record<string, string>; tensors: { name: string; dtype: string; shape: number[] }[] }[] = [];
      let bytes = 0;
      for await (const { key, value } of entries(st, prefix, values.session)) {
        const file = `${key}.safetensors`; // keys are '/'-separated [A-Za-z0-9._-] segments: safe relative paths
        const data = encodeSafetensors(value, { checksum: true });
        await mkdir(dirname(join(out, file)), { recursive: true });
        await writeFile(join(out, file), data);
        bytes += data.length;
        index.push({ key, file, metadata: value.meta, tensors: value.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape })) });
      }
      await mkdir(out, { recursive: true });
      await writeFile(join(out, 'index.json'), JSON.stringify({ format: 'tessera-cache-export-1', storage: st.name, entries: index }, null, 2) + '\n');
      console.error(`${out}: ${index.length} files, ${humanBytes(bytes)}`);
      return 0;
    } finally {
      await st.close();
    }
  },
};
