/**
 * How much memory a model needs, whether it fits, and how to spread it over WASM instances — decided from
 * the GGUF header alone, before anything is allocated.
 *
 * Bytes per instance (one wasm32 memory, at most 4 GiB):
 *   overhead  stacks (1 MiB per thread), command list, module data: `instanceOverheadBytes`
 *   buffers   activations and scratch of the llama graph (src/model/llama.ts RunState, Backend.reserve)
 *             and the KV page tables; every instance has its own copy (ShardedBackend replicates them)
 *   layers    weights `blk.N.*` + that layer's KV pages (src/kv/cache.ts: 64-token pages)
 *   shard 0 also holds the other weights (token_embd, output, output_norm, ...)
 * Layers are placed in order, each on the current instance while it fits, else on the next.
 */
import { freemem } from 'node:os';
import { TesseraError } from '../errors.ts';
import { MAX_MEMORY_BYTES } from '../backend/wasm/arena.ts';
import { repackPlan } from '../backend/wasm/repack.ts';
import type { GgufFile } from '../gguf/reader.ts';
import { GgmlType } from '../gguf/types.ts';
import { DEFAULT_PAGE_SIZE } from '../kv/cache.ts';
import { readHParams } from './hparams.ts';

/** The model does not fit: `needed` and `available` bytes are in the message and on the error. */
export class ModelTooLargeError extends TesseraError {
  constructor(
    message: string,
    readonly needed: number,
    readonly available: number,
  ) {
    super('model_too_large', message);
  }
}

export interface MemoryPlanOptions {
  nCtx: number;
  maxTokens: number;
  logitRows?: number;
  kvType: GgmlType;
  threads: number;
  /** Most bytes one instance may hold (default 4 GiB); smaller values force sharding. */
  maxShardBytes?: number;
  /** Bytes the model may use in all (default: the system's free memory, os.freemem()). */
  availableBytes?: number;
  /** Whether the architecture's loader places layers by `Backend.group` (else: one instance or refusal). */
  canShard: boolean;
}

export interface MemoryPlan {
  weightBytes: number;
  kvBytes: number;
  /** Activations, scratch and page tables of one instance (each instance has them). */
  bufferBytes: number;
  /** Everything, all instances. */
  totalBytes: number;
  shards: number;
  /** Shard of each layer. */
  layerShard: number[];
  /** Estimated bytes of each instance. */
  shardBytes: number[];
}

/** KvCache's default page size (tokens). */
const KV_PAGE = DEFAULT_PAGE_SIZE;
/** Per-allocation alignment slack (the arena aligns to 64). */
const ALIGN = 64;

/** Stacks (1 MiB each: main thread and workers), the command list (8192 × 64 B), module data and the pool's control blocks, rounded up. */
export function instanceOverheadBytes(threads: number): number {
  return (threads + 8) * 2 ** 20;
}

const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;

export function planMemory(file: GgufFile, o: MemoryPlanOptions): MemoryPlan {
  const arch = file.metadata.get('general.architecture') as string;
  const hp = readHParams(file, arch);
  const name = file.path.split(/[\\/]/).pop();
  const maxShard = Math.min(o.maxShardBytes ?? MAX_MEMORY_BYTES, MAX_MEMORY_BYTES);
  const available = o.availableBytes ?? freemem();

  const maxTok = Math.max(1, Math.min(o.maxTokens, o.nCtx));
  const logitRows = Math.max(1, Math.min(o.logitRows ?? 1, maxTok));
  const qDim = hp.nHead * hp.headDim;
  const kvDim = hp.nHeadKv * hp.headDim;
  const nPages = Math.ceil(o.nCtx / KV_PAGE);
  const kvElem = o.kvType === GgmlType.F32 ? 4 : 2;
  const kvLayerBytes = 2 * nPages * (KV_PAGE * kvDim * kvElem + ALIGN);
  const bufferBytes =
    4 * maxTok * (2 + 3 * hp.nEmbd + 2 * qDim + 2 * kvDim + 2 * hp.nFf) + // tokens, pos, x/h/o, q/att, k/v, gate/up
    4 * hp.nVocab * logitRows + // logits
    4 * maxTok * Math.max(hp.nEmbd, hp.nFf, qDim) + 4 * o.threads * o.nCtx + // Backend.reserve
    hp.nLayer * 2 * (4 * nPages + ALIGN) + // page tables
    64 * ALIGN;
  const overhead = instanceOverheadBytes(o.threads);

  let otherBytes = 0;
  const layerWeights = new Array<number>(hp.nLayer).fill(0);
  let largest = { name: '', bytes: 0 };
  for (const t of file.tensors) {
    const m = /^blk\.(\d+)\./.exec(t.name);
    // Matrices are stored repacked in WASM memory (src/backend/wasm/repack.ts; Q4_0: 20 bytes per 32 values, not 18).
    const bytes = (repackPlan(t.type, t.dims)?.bytes ?? t.byteSize) + ALIGN;
    if (m && Number(m[1]) < hp.nLayer) layerWeights[Number(m[1])] += bytes;
    else otherBytes += bytes;
    if (t.byteSize > largest.bytes) largest = { name: t.name, bytes: t.byteSize };
  }
  const weightBytes = otherBytes + layerWeights.reduce((a, b) => a + b, 0);
  const kvBytes = kvLayerBytes * hp.nLayer;

  const room = maxShard - overhead - bufferBytes; // what one instance has for weights and KV pages
  const tooBigForOne = (what: string, bytes: number) =>
    new ModelTooLargeError(
      `${name}: ${what} needs ${bytes} bytes (${mib(bytes)}), but one WASM instance holds at most ${Math.max(0, room)} bytes (${mib(Math.max(0, room))}) besides its ${overhead + bufferBytes} bytes of stacks and buffers (wasm32 memory ends at ${maxShard} bytes)`,
      bytes,
      Math.max(0, room),
    );
  if (largest.bytes > room) throw tooBigForOne(`tensor '${largest.name}'`, largest.bytes);
  if (otherBytes > room) throw tooBigForOne('the embeddings and output weights', otherBytes);

  const layerShard: number[] = [];
  const shardBytes = [overhead + bufferBytes + otherBytes];
  for (let il = 0; il < hp.nLayer; il++) {
    const bytes = layerWeights[il] + kvLayerBytes;
    if (bytes > room) throw tooBigForOne(`layer ${il} (weights and KV cache)`, bytes);
    if (shardBytes[shardBytes.length - 1] + bytes > maxShard) shardBytes.push(overhead + bufferBytes);
    shardBytes[shardBytes.length - 1] += bytes;
    layerShard.push(shardBytes.length - 1);
  }
  const shards = shardBytes.length;
  const totalBytes = shardBytes.reduce((a, b) => a + b, 0);
  if (totalBytes > available) {
    throw new ModelTooLargeError(
      `${name}: loading needs ${totalBytes} bytes (${mib(totalBytes)}: weights ${weightBytes}, KV cache ${kvBytes}, buffers ${bufferBytes} × ${shards} instance${shards > 1 ? 's' : ''}), but only ${available} bytes (${mib(available)}) of memory are available`,
      totalBytes,
      available,
    );
  }
  if (shards > 1 && !o.canShard) {
    throw new ModelTooLargeError(
      `${name}: needs ${totalBytes} bytes, more than one WASM instance holds (${maxShard} bytes), and ${arch} models cannot be split across instances yet`,
      totalBytes,
      maxShard,
    );
  }
  return { weightBytes, kvBytes, bufferBytes, totalBytes, shards, layerShard, shardBytes };
}
