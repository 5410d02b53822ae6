/**
 * The benchmark's models: synthetic llama GGUFs (src/synth) of a fixed shape, cached under .cache/bench/ by a key
 * that covers the spec and the generator's source, plus the facts the report needs from any GGUF.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { openGguf } from '../src/gguf/reader.ts';
import { GgmlType } from '../src/gguf/types.ts';
import { type SynthLlamaSpec, type SynthWeightType, writeSyntheticLlama } from '../src/synth/index.ts';
import { writeRandomQ4KMLlama } from '../src/synth/random-blocks.ts';
import { llama2VocabMetadata } from '../test/fixtures/vocab.ts';
import { repoRoot } from './paths.ts';

/** Transformer shape without type, seed and tokenizer. */
export type ModelShape = Pick<SynthLlamaSpec, 'nEmbd' | 'nLayer' | 'nHead' | 'nHeadKv' | 'nFf'> & { nVocab: number };

export const SHAPES = {
  /** Llama-3.2-1B-like width and depth with Llama 2's vocabulary (~1.1 B parameters). */
  '1b': { nVocab: 32000, nEmbd: 2048, nLayer: 16, nHead: 32, nHeadKv: 8, nFf: 8192 },
  /** A few MB: checks that every engine runs, in seconds. */
  tiny: { nVocab: 32000, nEmbd: 256, nLayer: 4, nHead: 8, nHeadKv: 4, nFf: 768 },
} as const satisfies Record<string, ModelShape>;
export type ShapeName = keyof typeof SHAPES;

export const SEED = 1234;

export interface BenchModel {
  /** Short label for tables, e.g. "1b-Q4_0". */
  label: string;
  path: string;
  type: BenchType | 'file';
}

/** A synthetic weight type, or 'Q4_K_M': llama.cpp's Q4_K_M mix (Q4_K, with Q6_K where its quantizer puts it). */
export type BenchType = SynthWeightType | 'Q4_K_M';

/** Returns the cached synthetic model for (shape, type), generating it first if needed. */
export async function syntheticModel(shapeName: ShapeName, type: BenchType, log: (msg: string) => void): Promise<BenchModel> {
  const shape = SHAPES[shapeName];
  const mix: Pick<SynthLlamaSpec, 'type' | 'typeOverrides'> = type === 'Q4_K_M' ? { type: 'Q4_K' } : { type };
  const spec: SynthLlamaSpec = { ...shape, ...mix, seed: SEED, tokenizer: llama2VocabMetadata() };
  const label = `${shapeName}-${type}`;
  const dir = join(repoRoot(), '.cache', 'bench');
  const path = join(dir, `${label}-${cacheKey(spec)}.gguf`);
  if (!existsSync(path)) {
    mkdirSync(dir, { recursive: true });
    log(`generating ${label} → ${path}`);
    const t0 = performance.now();
    const partial = `${path}.partial`;
    // Q4_K_M: llama.cpp's per-tensor mix (src/quantize/plan.ts) filled with random valid blocks, streamed: the
    // speed does not depend on the values, and quantizing 1.1 B floats in JS would take many minutes.
    if (type === 'Q4_K_M') await writeRandomQ4KMLlama(partial, spec);
    else await writeSyntheticLlama(partial, spec);
    renameSync(partial, path);
    dropStale(dir, label, path);
    log(`generated ${label} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  }
  return { label, path, type };
}

/**
 * sha256 over the spec (tokenizer included) and the generator's sources (src/synth), 16 hex digits. The GGUF
 * writer and quantizers (src/gguf) are left out on purpose: they change often without changing the bytes, and
 * each regeneration of the 1b models costs minutes.
 */
function cacheKey(spec: SynthLlamaSpec): string {
  const h = createHash('sha256');
  h.update(JSON.stringify(spec, (_k, v: unknown) => (ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>) : v)));
  const dir = join(repoRoot(), 'src', 'synth');
  for (const f of readdirSync(dir).sort()) if (f.endsWith('.ts')) h.update(readFileSync(join(dir, f)));
  return h.digest('hex').slice(0, 16);
}

/** Deletes cached files of `label` other than `keep` (older keys), so the cache holds one file per model. */
function dropStale(dir: string, label: string, keep: string): void {
  for (const f of readdirSync(dir)) {
    if (f.startsWith(`${label}-`) && f.endsWith('.gguf') && join(dir, f) !== keep) unlinkSync(join(dir, f));
  }
}

/** What the report needs to know about a GGUF. */
export interface ModelFacts {
  fileBytes: number;
  nParams: number;
  /**
   * Weight bytes one decode step must read: every tensor except token_embd, plus one row of token_embd (the
   * lookup); when there is no output.weight, token_embd is the output matrix and is read whole.
   */
  bytesPerToken: number;
  /** Ids of the <0xNN> byte tokens (type 6): engines that must emit valid UTF-8 text may avoid them. */
  byteTokens: number[];
  /** Tensor type histogram, e.g. { Q4_0: 113, F32: 33 }. */
  types: Record<string, number>;
}

export async function modelFacts(path: string): Promise<ModelFacts> {
  const f = await openGguf(path);
  let bytesPerToken = 0;
  let nParams = 0;
  const types: Record<string, number> = {};
  const tied = !f.tensorByName.has('output.weight');
  for (const t of f.tensors) {
    nParams += t.nElements;
    const name = GgmlType[t.type] ?? String(t.type);
    types[name] = (types[name] ?? 0) + 1;
    if (t.name === 'token_embd.weight' && !tied) bytesPerToken += t.byteSize / t.dims[1];
    else bytesPerToken += t.byteSize;
  }
  const tokenTypes = f.metadata.get('tokenizer.ggml.token_type') as ArrayLike<number> | undefined;
  const byteTokens: number[] = [];
  if (tokenTypes) for (let i = 0; i < tokenTypes.length; i++) if (tokenTypes[i] === 6) byteTokens.push(i);
  return { fileBytes: f.fileSize, nParams, bytesPerToken, byteTokens, types };
}
