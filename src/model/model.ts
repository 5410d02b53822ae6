/** What the engine needs from a model architecture, and the registry that maps GGUF architectures to one. */
import type { Backend } from '../backend/backend.ts';
import type { GgufFile } from '../gguf/reader.ts';
import type { GgmlType } from '../gguf/types.ts';
import type { KvCache } from '../kv/cache.ts';
import type { HParams } from './hparams.ts';
import { ModelFormatError, UnsupportedArchitectureError } from './hparams.ts';
import { BertModel } from './bert.ts';
import { LlamaModel } from './llama.ts';

export interface ModelOptions {
  /** Context length: KV positions reserved at load. */
  nCtx: number;
  /** Largest batch a single forward takes (prefill chunk, `num_batch`). */
  maxTokens: number;
  /** How many rows of logits one forward can return (1 for generation; the prompt length for scoring). */
  logitRows?: number;
  kvType?: GgmlType;
  /** V's KV type when it differs from kvType. */
  vType?: GgmlType;
  /** Tokens per KV page (16..256). */
  kvPageSize?: number;
  /** Byte budget of the hot KV pages in backend memory (per K/V type pair). */
  kvHotBytes?: number;
  /** Default hot budget when kvHotBytes is not given: this many full contexts (default 1). */
  kvHotContexts?: number;
  /** Sequences one `forwardBatch` may run (continuous batching; default 1). KV table sets: this many + 1 (for exclusive work). */
  maxSeqs?: number;
}

/**
 * Several sequences in one forward (continuous batching). Tokens and positions are in the model's
 * inputTokens/inputPositions: sequence j owns rows [rowStart[j], rowStart[j] + rowCount[j]), attends over
 * its cache positions [0, nKv[j]) through KV table set tableSet[j]. The logits of each sequence's last row
 * land in row j of `logits`. Arrays are i32 [maxSeqs]; the caller owns them (allocated once).
 */
export interface Batch {
  nSeq: number;
  rowStart: Int32Array;
  rowCount: Int32Array;
  nKv: Int32Array;
  tableSet: Int32Array;
}

/** How an embedding model turns hidden states into one vector (llama.cpp llama_pooling_type). */
export type Pooling = 'none' | 'mean' | 'cls' | 'last';

export interface Model {
  readonly hp: HParams;
  readonly kv: KvCache;
  readonly maxTokens: number;
  readonly logitRows: number;
  /** i32 [max_tokens]: token ids of the next batch. */
  readonly inputTokens: Int32Array;
  /** i32 [max_tokens]: positions of the next batch. */
  readonly inputPositions: Int32Array;
  /** f32 [logit_rows][n_vocab]: logits of the last forward's last `outRows` tokens. */
  readonly logits: Float32Array;
  forward(nTok: number, nKv: number, outRows: number): void | Promise<void>;
  /** Sequences one forwardBatch runs (1 or absent: one sequence at a time through `forward`). */
  readonly maxSeqs?: number;
  forwardBatch?(b: Batch): void | Promise<void>;
  /** Encoder models (embeddings): pooling, and the hidden states f32 [max_tokens][n_embd] of the last forward. */
  readonly pooling?: Pooling;
  readonly hidden?: Float32Array;
}

type Loader = (file: GgufFile, be: Backend, opts: ModelOptions) => Promise<Model>;

/** GGUF `general.architecture` → loader. Llama-compatible families share the llama graph. */
const ARCHITECTURES: Record<string, Loader> = {
  llama: (f, b, o) => LlamaModel.load(f, b, o),
  mistral: (f, b, o) => LlamaModel.load(f, b, o),
  mistral3: (f, b, o) => LlamaModel.load(f, b, o),
  qwen2: (f, b, o) => LlamaModel.load(f, b, o),
  qwen2vl: (f, b, o) => LlamaModel.load(f, b, o),
  qwen3: (f, b, o) => LlamaModel.load(f, b, o),
  phi3: (f, b, o) => LlamaModel.load(f, b, o),
  gemma2: (f, b, o) => LlamaModel.load(f, b, o),
  gemma3: (f, b, o) => LlamaModel.load(f, b, o),
  bert: (f, b, o) => BertModel.load(f, b, o),
  'nomic-bert': (f, b, o) => BertModel.load(f, b, o),
};

export const SUPPORTED_ARCHITECTURES = Object.keys(ARCHITECTURES);

export function loadModel(file: GgufFile, be: Backend, opts: ModelOptions): Promise<Model> {
  const arch = file.metadata.get('general.architecture');
  if (typeof arch !== 'string') throw new ModelFormatError(file.path, "missing metadata key 'general.architecture'");
  const load = ARCHITECTURES[arch];
  if (!load) throw new UnsupportedArchitectureError(file.path, arch, SUPPORTED_ARCHITECTURES);
  return load(file, be, opts);
}
