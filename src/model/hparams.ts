/** Hyperparameters of a decoder-only transformer, read from GGUF metadata (`<arch>.*` keys). */
import { TesseraError } from '../errors.ts';
import type { GgufFile } from '../gguf/reader.ts';

export class ModelFormatError extends TesseraError {
  constructor(path: string, message: string) {
    super('model_format', `${path}: ${message}`);
  }
}

export class UnsupportedArchitectureError extends TesseraError {
  constructor(path: string, arch: string, supported: readonly string[]) {
    super('unsupported_architecture', `${path}: architecture '${arch}' is not supported (supported: ${supported.join(', ')})`);
  }
}

export interface HParams {
  arch: string;
  nVocab: number;
  nCtxTrain: number;
  nEmbd: number;
  nLayer: number;
  nHead: number;
  nHeadKv: number;
  headDim: number; // key/value length per head
  nFf: number;
  nRot: number;
  ropeBase: number;
  ropeScale: number; // freq_scale = 1 / rope.scaling.factor for linear scaling
  rmsEps: number;
}

function num(file: GgufFile, key: string, fallback?: number): number {
  const v = file.metadata.get(key);
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw new ModelFormatError(file.path, `missing metadata key '${key}'`);
  }
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw new ModelFormatError(file.path, `metadata key '${key}' is not a number`);
  return n;
}

/** Positive integer metadata, bounded so a corrupt file can't ask for absurd allocations. */
function dim(file: GgufFile, key: string, max: number, fallback?: number): number {
  const n = num(file, key, fallback);
  if (!Number.isInteger(n) || n <= 0 || n > max) throw new ModelFormatError(file.path, `metadata key '${key}' = ${n} is out of range (1..${max})`);
  return n;
}

export function readHParams(file: GgufFile, arch: string): HParams {
  const k = (s: string) => `${arch}.${s}`;
  const nEmbd = dim(file, k('embedding_length'), 1 << 16);
  const nHead = dim(file, k('attention.head_count'), 1024);
  const nHeadKv = dim(file, k('attention.head_count_kv'), 1024, nHead);
  if (nHead % nHeadKv !== 0) throw new ModelFormatError(file.path, `head_count ${nHead} is not a multiple of head_count_kv ${nHeadKv}`);
  const headDim = dim(file, k('attention.key_length'), 4096, Math.floor(nEmbd / nHead));
  const vDim = dim(file, k('attention.value_length'), 4096, headDim);
  if (vDim !== headDim) throw new ModelFormatError(file.path, `key_length ${headDim} != value_length ${vDim} is not supported`);
  const scalingType = file.metadata.get(k('rope.scaling.type'));
  const scalingFactor = num(file, k('rope.scaling.factor'), 0);
  if (scalingType !== undefined && scalingType !== 'none' && scalingType !== 'linear') {
    throw new ModelFormatError(file.path, `rope scaling '${String(scalingType)}' is not supported yet (supported: none, linear)`);
  }
  const ropeScale = scalingType === 'linear' && scalingFactor > 0 ? 1 / scalingFactor : 1;
  const tokens = file.metadata.get('tokenizer.ggml.tokens') as unknown[] | undefined;
  const hp: HParams = {
    arch,
    nVocab: dim(file, k('vocab_size'), 1 << 22, tokens?.length ?? 0),
    nCtxTrain: dim(file, k('context_length'), 1 << 24, 2048),
    nEmbd,
    nLayer: dim(file, k('block_count'), 1024),
    nHead,
    nHeadKv,
    headDim,
    nFf: dim(file, k('feed_forward_length'), 1 << 18),
    nRot: dim(file, k('rope.dimension_count'), 4096, headDim),
    ropeBase: num(file, k('rope.freq_base'), 10000),
    ropeScale,
    rmsEps: num(file, k('attention.layer_norm_rms_epsilon'), 1e-5),
  };
  if (hp.nRot > headDim || hp.nRot % 2 !== 0) throw new ModelFormatError(file.path, `rope.dimension_count ${hp.nRot} must be even and ≤ head size ${headDim}`);
  return hp;
}
