/**
 * Storage smoke for Bun and Deno (run on src/ directly): put/get/list/delete on memory, a directory and, when a
 * URL is given, Redis. Prints one JSON line per driver: {driver, meta, hex, keys, used, afterDelete}.
 * Usage: bun test/runtime/storage-smoke.ts <dir> [redis://…]
 */
import { createStorage } from '../../src/storage/index.ts';

const [dir, redisUrl] = (globalThis as { Deno?: { args: string[] } }).Deno?.args ?? process.argv.slice(2);
const specs = ['memory:?budget=1MiB', `${dir}?budget=1MiB`, ...(redisUrl ? [`${redisUrl}/0?prefix=smoke:&budget=1MiB`] : [])];
const bytes = new Uint8Array(24).map((_, i) => (i * 37 + 11) & 255);
for (const spec of specs) {
  const s = await createStorage(spec);
  await s.put('kv/m/a', { tensors: [{ name: 'k', dtype: 'F16', shape: [3, 4], bytes }], meta: { model_digest: 'm', token_end: '3' } });
  await s.put('kv/m/b', { tensors: [], meta: {} });
  const v = await s.get('kv/m/a');
  const keys = (await s.list('kv/m/')).sort();
  const used = await s.usedBytes();
  await s.delete('kv/m/a');
  const hex = Array.from(v!.tensors[0].bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  console.log(JSON.stringify({ driver: s.name, meta: v!.meta, shape: v!.tensors[0].shape, hex, keys, used, afterDelete: await s.has('kv/m/a') }));
  await s.close();
}
