/**
 * What /api/ps and `tessera ps` show for a loaded model: which backend runs it and why (the detected
 * facts, every kind's verdict, a fallback's error) and the tuning result (where it came from, the shapes
 * whose split differs from the default, with their measured times).
 */
import { GgmlType } from '../gguf/types.ts';
import type { BackendInfo } from './select.ts';

export interface BackendSummary {
  kind: string;
  requested: string;
  reason: string;
  fallback: BackendInfo['fallback'];
  considered: BackendInfo['considered'];
  facts: BackendInfo['facts'];
  tuning: {
    source: string;
    reason: string;
    key: string | null;
    elapsed_ms: number;
    shapes: number;
    /** Shapes whose chunk size is not the default: "Q8_0 2048→8192 decode", rows, ms default → tuned. */
    tuned: { shape: string; chunk_rows: number; default_ms: number | null; tuned_ms: number | null }[];
  } | null;
}

export function backendSummary(b: BackendInfo): BackendSummary {
  const t = b.tuning;
  return {
    kind: b.kind,
    requested: b.requested,
    reason: b.reason,
    fallback: b.fallback,
    considered: b.considered,
    facts: b.facts,
    tuning: t && {
      source: t.source,
      reason: t.reason,
      key: t.key,
      elapsed_ms: Math.round(t.elapsedMs),
      shapes: t.choices.length,
      tuned: t.choices
        .filter((c) => c.chunkRows > 0)
        .map((c) => ({ shape: `${GgmlType[c.wtype] ?? c.wtype} ${c.nIn}→${c.nOut} ${c.phase}`, chunk_rows: c.chunkRows, default_ms: c.defaultMs, tuned_ms: c.bestMs })),
    },
  };
}
