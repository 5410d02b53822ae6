/** `tessera ps`: the loaded models (GET /api/ps), as `ollama ps` prints them. */
import { humanBytes, humanSince, table, UsageError } from './args.ts';
import { callJson, httpFetcher } from './client.ts';
import type { Command } from './command.ts';
import type { BackendSummary } from '../hardware/summary.ts';

interface Loaded {
  name: string;
  digest: string;
  size: number;
  expires_at: string;
  context_length: number;
  /** Tessera's: which backend runs the model and why (src/hardware/summary.ts). */
  backend?: BackendSummary;
}

/** Why a model runs where it does: the selection reason, the facts, and the tuning result. */
export function why(name: string, b: BackendSummary): string {
  const f = b.facts;
  const out = [
    `${name}: ${b.kind} — ${b.reason}`,
    `  facts: ${f.threads} threads of ${f.cores ?? '?'} cores, CPU SIMD ${f.cpuSimd ?? '?'}, model ${humanBytes(f.modelBytes)}, machine ${f.fingerprint}`,
  ];
  if (b.fallback) out.push(`  fallback: ${b.fallback.from} failed: ${b.fallback.error}`);
  const t = b.tuning;
  if (t) {
    out.push(`  tuning: ${t.source}, ${t.reason}`);
    for (const s of t.tuned) out.push(`    ${s.shape}: ${s.chunk_rows} rows/chunk${s.default_ms !== null ? `, ${s.default_ms} → ${s.tuned_ms} ms` : ''}`);
    if (t.shapes > 0 && t.tuned.length === 0) out.push(`    all ${t.shapes} shapes keep the default split`);
  }
  return out.join('\n');
}

export const ps: Command = {
  name: 'ps',
  summary: 'list the loaded models',
  help: 'usage: tessera ps\n\nLists the models loaded by the server at TESSERA_HOST: NAME, ID, SIZE (memory), PROCESSOR (and backend), CONTEXT, UNTIL; then, per model, why that backend runs it and its tuning result.',
  async run(args) {
    if (args.length) throw new UsageError(`ps: unexpected argument '${args[0]}'`, ps.help);
    const { models } = await callJson<{ models: Loaded[] }>(httpFetcher(), 'GET', '/api/ps');
    const until = (iso: string) => (Date.parse(iso) > Date.now() + 100 * 365 * 86400e3 ? 'Forever' : humanSince(iso));
    const processor = (b?: BackendSummary) => (!b ? '100% CPU' : b.kind === 'cuda' || b.kind === 'webgpu' ? `100% GPU (${b.kind})` : `100% CPU (${b.kind})`);
    console.log(table([['NAME', 'ID', 'SIZE', 'PROCESSOR', 'CONTEXT', 'UNTIL'], ...models.map((m) => [m.name, m.digest.slice(0, 12), humanBytes(m.size), processor(m.backend), String(m.context_length), until(m.expires_at)])]));
    for (const m of models) if (m.backend) console.log(`\n${why(m.name, m.backend)}`);
    return 0;
  },
};
