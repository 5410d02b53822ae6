/**
 * The engine's call into the autotuner: which of a model's matrices it multiplies in which phase, the
 * budget (2 ms per MiB of model, 50..2000 ms) and the storage (default: one in-process memory storage, so
 * later loads in the process reuse it). Tuning errors never fail a load: they are reported in the result.
 */
import type { Backend } from '../backend/backend.ts';
import type { GgufFile } from '../gguf/reader.ts';
import type { Model } from '../model/model.ts';
import { MemoryStorage } from '../storage/memory.ts';
import type { Storage } from '../storage/types.ts';
import type { HardwareReport } from './report.ts';
import { DEFAULT_BUDGET_MS, tuneBackend, type TuningResult } from './tune.ts';

let processStorage: Storage | undefined;

export type TuneSetting = boolean | { budgetMs?: number; storage?: Storage | null; force?: boolean } | undefined;

export function defaultTuneBudget(modelBytes: number): number {
  return Math.round(Math.min(DEFAULT_BUDGET_MS, Math.max(50, (modelBytes / 2 ** 20) * 2)));
}

export async function tuneForModel(be: Backend, file: GgufFile, model: Model, hw: HardwareReport, maxTokens: number, modelBytes: number, setting: TuneSetting): Promise<TuningResult> {
  const budgetMs = (typeof setting === 'object' ? setting.budgetMs : undefined) ?? defaultTuneBudget(modelBytes);
  if (setting === false) return { source: 'off', reason: 'tuning disabled (tune: false)', key: null, kernelVersion: null, budgetMs, elapsedMs: 0, choices: [] };
  const storage = typeof setting === 'object' && setting.storage !== undefined ? setting.storage : (processStorage ??= new MemoryStorage());
  // The vocabulary projection only runs for the last token (decode shape), and only with the output matrix's type.
  const nVocab = model.hp.nVocab;
  const outType = (file.tensors.find((t) => t.name === 'output.weight') ?? file.tensors.find((t) => t.name === 'token_embd.weight'))?.type;
  try {
    return await tuneBackend(be, {
      storage,
      fingerprint: hw.fingerprint,
      maxTokens,
      budgetMs,
      force: typeof setting === 'object' ? setting.force : undefined,
      include: (s, phase) => s.nOut !== nVocab || (phase === 'decode' && s.wtype === outType && !model.pooling),
    });
  } catch (e) {
    return { source: 'untunable', reason: `tuning failed: ${(e as Error).message}`, key: null, kernelVersion: null, budgetMs, elapsedMs: 0, choices: [] };
  }
}
