/**
 * Images in an Engine: a text model plus its projector (a llama.cpp mmproj GGUF).
 *
 * - Each image goes through the ImageCache (decode → tiles → encoder; skipped when the cache holds the image for
 *   these settings and this encoder). Decoding and resampling run on a WASM core of their own (not the model's,
 *   so they need no lock and never grow the model's memory); only the encoder's forward takes the engine's lock.
 * - The prompt text carries IMAGE_MARKER where each image goes (the engine puts one per image before the user's
 *   text, as Ollama does, unless the prompt has markers already). `layout` tokenizes the text between markers and
 *   puts each image's blocks there:
 *       gemma3:  <start_of_image> [n_tokens soft rows] <end_of_image>          (rows attend both ways)
 *       llava:   [n_tokens soft rows]                                          (causal, as llama.cpp's mtmd)
 *   An image split into several blocks (tiles.ts) gets, before each block, its position as text:
 *   `<block row=R col=C>` (1-based), `<overview>` for the thumbnail, and a newline after each row of blocks.
 * - KV prefix reuse: the KV manager sees `kvTokens`, the tokens with each soft row replaced by a negative id derived
 *   from the image's cache key (never a vocabulary id: a page of text never matches a page of image rows), and the
 *   spans' hashes enter the chained page keys (src/kv/chain-hash.ts): a second question about the same image reuses
 *   the pages holding it; another image with the same layout does not.
 *
 * Shapes: EncodedImage.embeddings f32 [tiles][n_tokens][n_out] (n_out = the text model's n_embd); a span's rows are
 * one tile's f32 [n_tokens][n_embd].
 */
import type { Backend } from './backend/backend.ts';
import { WasmCore } from './backend/wasm/core.ts';
import { ValidationError } from './errors.ts';
import { openGguf } from './gguf/reader.ts';
import type { KvManager, KvImageSpan, KvSequence } from './kv/manager.ts';
import type { LlamaModel } from './model/llama.ts';
import type { Batch } from './model/model.ts';
import { MemoryStorage } from './storage/memory.ts';
import type { Storage, StoredValue } from './storage/types.ts';
import type { Tokenizer } from './tokenizer/index.ts';
import { ImageCache, type EncodedImage, type TileEncoder } from './vision/cache.ts';
import { VisionEncoder } from './vision/encoder/index.ts';
import { ImageError } from './vision/errors.ts';

/** Where an image goes in prompt text (llama.cpp's mtmd default marker). */
export const IMAGE_MARKER = '<__media__>';

export interface VisionOptions {
  /** Path of the mmproj GGUF. */
  projector: string;
  /** Where image cache entries live (default: a memory storage of 512 MiB). */
  storage?: Storage | null;
  /** false: every image is decoded and encoded again (benchmarks). Default true. */
  cache?: boolean;
  /** Grid blocks of one image at most (default 1: the image resized to one tile). */
  maxTiles?: number;
  /** A whole-image thumbnail block before the grid when there are several blocks (default true). */
  overview?: boolean;
  /** false: KV pages holding image rows are never shared between requests (each gets a fresh key; benchmarks). Default true. */
  kvReuse?: boolean;
}

/** One image block in a laid-out prompt. */
export interface PromptImageBlock {
  image: number;
  kind: 'grid' | 'overview';
  /** 1-based grid position (the overview: 0, 0). */
  row: number;
  col: number;
  /** The block's pixel box in the original image. */
  box: { x: number; y: number; width: number; height: number };
  /** Its soft rows are prompt positions [start, end). */
  start: number;
  end: number;
  /** The text put before it (empty for a single block). */
  label: string;
}

export interface ImageSpan extends KvImageSpan {
  /** f32 [end − start][n_embd]. */
  rows: Float32Array;
  bidirectional: boolean;
}

export interface ImagePrompt {
  tokens: number[];
  /** `tokens` with every soft row replaced by a negative id of its image (what the KV manager keys). */
  kvTokens: number[];
  spans: ImageSpan[];
  blocks: PromptImageBlock[];
  /** Per image: whether the cache held it (nothing decoded or encoded). */
  cached: boolean[];
  /** ns spent getting the embeddings (decode + encode, or the cache lookup). */
  encodeNs: number;
}

/** A storage that keeps nothing (the cache disabled). */
class NoStorage implements Storage {
  readonly name = 'none';
  readonly budgetBytes = 0;
  get = async (): Promise<StoredValue | null> => null;
  put = async (): Promise<void> => {};
  has = async () => false;
  delete = async () => false;
  list = async (): Promise<string[]> => [];
  usedBytes = async () => 0;
  close = async () => {};
}

const now = () => Math.round(performance.now() * 1e6);

export class EngineVision {
  private readonly ids: { soi: number | null; eoi: number | null; soft: number };
  private requests = 0;

  private constructor(
    readonly encoder: VisionEncoder,
    readonly cache: ImageCache,
    readonly storage: Storage,
    private readonly tokenizer: Tokenizer,
    private readonly model: LlamaModel,
    private readonly exclusive: <T>(fn: () => Promise<T>) => Promise<T>,
    private readonly kvReuse: boolean,
  ) {
    const find = (text: string): number | null => {
      for (let i = 0; i < tokenizer.vocabSize; i++) if (tokenizer.tokenText(i) === text) return i;
      return null;
    };
    const gemma = encoder.hp.projector === 'gemma3';
    const soi = gemma ? find('<start_of_image>') : null;
    const eoi = gemma ? find('<end_of_image>') : null;
    if (gemma && (soi === null || eoi === null)) throw new ValidationError("projector: a Gemma 3 projector needs '<start_of_image>' and '<end_of_image>' in the text model's vocabulary");
    this.ids = { soi, eoi, soft: (gemma ? find('<image_soft_token>') : null) ?? soi ?? tokenizer.bos ?? 0 };
  }

  /**
   * Loads the projector on the text model's backend (`be`). `exclusive` runs work under the engine's lock.
   * @throws ValidationError when the projector's output width is not the text model's n_embd.
   */
  static async load(opts: VisionOptions, be: Backend, model: LlamaModel, tokenizer: Tokenizer, exclusive: <T>(fn: () => Promise<T>) => Promise<T>): Promise<EngineVision> {
    const file = await openGguf(opts.projector);
    const encoder = await VisionEncoder.load(file, be);
    if (encoder.hp.nOut !== model.hp.nEmbd) throw new ValidationError(`projector: its embeddings are ${encoder.hp.nOut} wide, the text model's n_embd is ${model.hp.nEmbd}`);
    model.enableEmbeddingInput();
    const core = await WasmCore.load({ variant: 'auto' });
    const locked: TileEncoder = {
      digest: encoder.digest,
      maxTiles: encoder.maxTiles,
      hp: encoder.hp,
      // The view is copied under the lock: the next encode (another request's) overwrites it.
      encode: (tiles) => exclusive(async () => (await encoder.encode(tiles)).slice()),
    };
    const storage = opts.cache === false ? new NoStorage() : (opts.storage ?? new MemoryStorage({ budgetBytes: 512 << 20 }));
    const maxTiles = opts.maxTiles ?? 1;
    const cache = new ImageCache({ encoder: locked, storage, core, maxTiles, overview: maxTiles > 1 && (opts.overview ?? true) });
    return new EngineVision(encoder, cache, storage, tokenizer, model, exclusive, opts.kvReuse ?? true);
  }

  get projector(): string {
    return this.encoder.hp.projector;
  }

  /** Embeddings of each image for `session` (through the cache). */
  async encodeImages(images: readonly Uint8Array[], session: string): Promise<{ encoded: EncodedImage[]; encodeNs: number }> {
    const t0 = now();
    const encoded: EncodedImage[] = [];
    for (let i = 0; i < images.length; i++) {
      try {
        encoded.push(await this.cache.encode(images[i]!, session));
      } catch (e) {
        if (e instanceof ImageError) throw new ImageError(e.reason, `images[${i}]: ${e.message}`, { cause: e });
        throw e;
      }
    }
    return { encoded, encodeNs: now() - t0 };
  }

  /** Tokens of `text` with each IMAGE_MARKER replaced by its image's blocks (see the file comment). */
  layout(text: string, encoded: readonly EncodedImage[], addSpecial: boolean): Omit<ImagePrompt, 'cached' | 'encodeNs'> {
    const parts = text.split(IMAGE_MARKER);
    if (parts.length - 1 !== encoded.length) throw new ValidationError(`images: the prompt has ${parts.length - 1} image markers for ${encoded.length} images`);
    const tk = this.tokenizer;
    const nEmbd = this.model.hp.nEmbd;
    const { nTokens } = this.encoder.hp;
    const bidirectional = this.encoder.hp.projector === 'gemma3';
    const tokens: number[] = [];
    const kvTokens: number[] = [];
    const spans: ImageSpan[] = [];
    const blocks: PromptImageBlock[] = [];
    const pushText = (s: string, special: boolean) => {
      if (!s && !special) return;
      for (const id of tk.encode(s, { addSpecial: special, parseSpecial: true })) {
        tokens.push(id);
        kvTokens.push(id);
      }
    };
    pushText(parts[0], addSpecial);
    encoded.forEach((img, k) => {
      const tiles = img.grid.tiles;
      const several = tiles.length > 1;
      const nonce = this.kvReuse ? '' : `~${++this.requests}`; // kvReuse off: a key no other request has
      let seed = (parseInt(img.key.slice(img.key.lastIndexOf('/') + 1, img.key.lastIndexOf('/') + 9), 16) + (this.kvReuse ? 0 : this.requests * 7919)) >>> 0;
      tiles.forEach((tile, t) => {
        const label = !several ? '' : tile.kind === 'overview' ? '<overview>' : `<block row=${tile.row + 1} col=${tile.col + 1}>`;
        if (label) pushText(label, false);
        if (this.ids.soi !== null) {
          tokens.push(this.ids.soi);
          kvTokens.push(this.ids.soi);
        }
        const start = tokens.length;
        for (let r = 0; r < nTokens; r++) {
          tokens.push(this.ids.soft);
          seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
          kvTokens.push(-1 - (seed >>> 1)); // negative: never a vocabulary id
        }
        const end = tokens.length;
        if (this.ids.eoi !== null) {
          tokens.push(this.ids.eoi);
          kvTokens.push(this.ids.eoi);
        }
        const last = t === tiles.length - 1 || (tiles[t + 1]!.kind === 'grid' && tiles[t + 1]!.row !== tile.row) || tile.kind === 'overview';
        if (several && last) pushText('\n', false);
        spans.push({ start, end, hash: `${img.key}#${t}${nonce}`, rows: img.embeddings.subarray(t * nTokens * nEmbd, (t + 1) * nTokens * nEmbd), bidirectional });
        blocks.push({ image: k, kind: tile.kind, row: tile.kind === 'grid' ? tile.row + 1 : 0, col: tile.kind === 'grid' ? tile.col + 1 : 0, box: tile.box, start, end, label });
      });
      pushText(parts[k + 1]!, false);
    });
    return { tokens, kvTokens, spans, blocks };
  }

  /**
   * Evaluates `p.tokens[seq.n, end)` of `seq` (its table set) chunk by chunk, each chunk one forward under the engine's
   * lock; a chunk holds at most one image block, whole (its rows must be in one forward: they attend both ways).
   * Commits each chunk to `kvm`; `logits` gets the last row's logits.
   * @throws ValidationError when a block does not fit one batch (num_batch).
   */
  async prefill(kvm: KvManager, seq: KvSequence, p: ImagePrompt, logits: Float32Array, signal?: AbortSignal): Promise<void> {
    const m = this.model;
    const n = p.tokens.length;
    const nEmbd = m.hp.nEmbd;
    const batched = (m.maxSeqs ?? 1) > 1 && !!m.forwardBatch;
    const b: Batch = { nSeq: 1, rowStart: new Int32Array(1), rowCount: new Int32Array(1), nKv: new Int32Array(1), tableSet: new Int32Array(1) };
    while (seq.n < n) {
      if (signal?.aborted) return;
      const pos = seq.n;
      let end = Math.min(n, pos + m.maxTokens);
      let span: ImageSpan | null = null;
      for (const s of p.spans) {
        if (s.end <= pos || s.start >= end) continue;
        if (span) {
          end = s.start; // one block per forward
          break;
        }
        if (s.end > end) {
          if (s.start > pos) end = s.start;
          else throw new ValidationError(`images: a block of ${s.end - s.start} rows does not fit a batch of ${m.maxTokens} (raise num_batch)`);
          break;
        }
        span = s;
      }
      const len = end - pos;
      await this.exclusive(async () => {
        kvm.prepare(seq, len);
        for (let i = 0; i < len; i++) {
          m.inputTokens[i] = p.tokens[pos + i]!;
          m.inputPositions[i] = pos + i;
        }
        if (span) {
          const s0 = Math.max(span.start, pos);
          m.enableEmbeddingInput().set(span.rows.subarray((s0 - span.start) * nEmbd, (span.end - span.start) * nEmbd), (s0 - pos) * nEmbd);
          m.embeddingRows = { start: s0 - pos, n: span.end - s0, bidirectional: span.bidirectional };
        }
        try {
          if (batched) {
            b.rowCount[0] = len;
            b.nKv[0] = pos + len;
            b.tableSet[0] = seq.tableSet;
            await m.forwardBatch!(b);
          } else {
            await m.forward(len, pos + len, 1);
          }
        } finally {
          m.embeddingRows = null;
        }
        kvm.commit(seq, p.kvTokens, pos, len);
        logits.set(m.logits.subarray(0, logits.length));
      });
    }
  }
}
