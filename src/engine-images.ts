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
 *       qwen2.5-VL: <|vision_start|> [rows·cols rows, <|image_pad|>] <|vision_end|>   (causal; M-RoPE below)
 *       pixtral: [rows of cols [IMG] rows, an [IMG_BREAK] row between rows] [IMG_END]  (causal; the break rows
 *                are the projector's v.token_embd.img_break, part of the encoder's output, as llama.cpp)
 *   An image split into several blocks (tiles.ts) gets, before each block, its position as text:
 *   `<block row=R col=C>` (1-based), `<overview>` for the thumbnail, and a newline after each row of blocks.
 * - Dynamic-resolution towers (qwen2.5-VL, pixtral: src/vision/encoder/rope-encoder.ts) take each block at its own
 *   size (src/vision/dynamic-size.ts): at most clip.vision.image_size² pixels per block (pixtral: that longest
 *   side), so a block's rows and the tower's memory are bounded whatever the image. maxTiles (default 1) splits a
 *   large image into a grid of blocks of about image_size per side, each within the same budget: a 5000×5000
 *   image with maxTiles 4 is 2×2 blocks of 2500² pixels, each resampled to ≤ image_size² (plus the overview),
 *   so it costs at most 5 blocks' rows, and one block's encoder memory at a time.
 * - Positions: KV slots are the token indices. qwen2vl's M-RoPE positions (`ImagePrompt.mrope`) are
 *   (p, p, p, 0) for text and, for an image block of rows × cols tokens starting at text position p,
 *   (p, p + y, p + x, 0); the text after it goes on at p + max(rows, cols) (llama.cpp's mtmd, transformers'
 *   get_rope_index). Generated tokens keep that offset: `ropeDelta` (next position − tokens) is the model's
 *   mropeDelta for the sequence's table set while it runs.
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
import type { DynamicSizeRule } from './vision/dynamic-size.ts';
import { isRopeVisionFile, readRopeVisionHParams, readVisionHParams, RopeVisionEncoder, VisionEncoder, type VisionHParams } from './vision/encoder/index.ts';
import { mropeOfPrompt } from './vision/encoder/rope-layout.ts';
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
  /**
   * Blocks of an image encoded in one batch (fixed-tile towers: llava, Gemma 3; each op then runs once over every
   * block's rows). Default: the image's blocks (maxTiles, + 1 for the overview), as many as fit 256 MiB of tower
   * activations (`encoderBatchBytes`): llava 336 px ≈ 26 MiB a block, Gemma 3 896 px ≈ 215 MiB (one at a time).
   */
  encodeBatch?: number;
  /**
   * Dynamic-resolution towers (Qwen2.5-VL, Pixtral): most pixels of one block (default clip.vision.image_size²;
   * llama.cpp lets Qwen2.5-VL take up to 4096 tokens = 4096·28² px). The tower's buffers are sized for it at load
   * (Qwen2.5-VL ≈ 90 MB per 1024 patches). Pixtral's longest side stays ≤ image_size.
   */
  maxImagePixels?: number;
}

/** Activation bytes of one block in a fixed-tile tower's batch (encoder.ts: ~(7·n_embd + n_ff + 3·p²)·n_pos·4). */
export function encoderBatchBytes(hp: Pick<VisionHParams, 'nEmbd' | 'nFf' | 'patchSize' | 'nPos'>): number {
  return (7 * hp.nEmbd + hp.nFf + 3 * hp.patchSize * hp.patchSize) * hp.nPos * 4;
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
  /** The block's merged token grid (dynamic-resolution towers), else null. */
  grid: { rows: number; cols: number } | null;
}

export interface ImagePrompt {
  tokens: number[];
  /** `tokens` with every soft row replaced by a negative id of its image (what the KV manager keys). */
  kvTokens: number[];
  spans: ImageSpan[];
  blocks: PromptImageBlock[];
  /** qwen2vl: M-RoPE positions of every prompt token, i32 [4][tokens] (stream k of token i at k·n + i); else null. */
  mrope: Int32Array | null;
  /** qwen2vl: the text position after the prompt minus its token count (≤ 0); 0 otherwise. */
  ropeDelta: number;
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

/** How a projector's images enter the prompt. */
export type ImageLayoutKind = 'gemma3' | 'llava' | 'qwen' | 'pixtral';

/** The loaded tower: a fixed-tile encoder (CLIP/SigLIP) or a dynamic-resolution one (2D RoPE). */
type Tower = { kind: 'fixed'; enc: VisionEncoder } | { kind: 'rope'; enc: RopeVisionEncoder };

export class EngineVision {
  private readonly ids: { begin: number | null; end: number | null; soft: number; brk: number | null };
  readonly layoutKind: ImageLayoutKind;
  private requests = 0;

  private constructor(
    private readonly tower: Tower,
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
    const need = (text: string): number => {
      const id = find(text);
      if (id === null) throw new ValidationError(`projector: a ${this.projector} projector needs '${text}' in the text model's vocabulary`);
      return id;
    };
    const p = this.projector;
    if (p === 'gemma3') {
      this.layoutKind = 'gemma3';
      const soi = need('<start_of_image>');
      this.ids = { begin: soi, end: need('<end_of_image>'), soft: find('<image_soft_token>') ?? soi, brk: null };
    } else if (p === 'qwen2.5vl_merger') {
      this.layoutKind = 'qwen';
      if (!model.mropeDelta) throw new ValidationError(`projector: a Qwen2.5-VL projector needs a text model with M-RoPE (qwen2vl), not ${model.hp.arch}`);
      const vs = need('<|vision_start|>');
      this.ids = { begin: vs, end: need('<|vision_end|>'), soft: find('<|image_pad|>') ?? vs, brk: null };
    } else if (p === 'pixtral') {
      this.layoutKind = 'pixtral';
      const end = need('[IMG_END]');
      this.ids = { begin: null, end, soft: find('[IMG]') ?? end, brk: find('[IMG_BREAK]') ?? end };
    } else {
      this.layoutKind = 'llava';
      this.ids = { begin: null, end: null, soft: tokenizer.bos ?? 0, brk: null };
    }
  }

  /**
   * Loads the projector on the text model's backend (`be`). `exclusive` runs work under the engine's lock.
   * @throws ValidationError when the projector's output width is not the text model's n_embd.
   */
  static async load(opts: VisionOptions, be: Backend, model: LlamaModel, tokenizer: Tokenizer, exclusive: <T>(fn: () => Promise<T>) => Promise<T>): Promise<EngineVision> {
    const file = await openGguf(opts.projector);
    const maxTiles = opts.maxTiles ?? 1;
    const overview = maxTiles > 1 && (opts.overview ?? true);
    let tower: Tower;
    if (isRopeVisionFile(file)) {
      const hp = readRopeVisionHParams(file);
      let maxPatches: number | undefined;
      if (opts.maxImagePixels !== undefined) {
        const m2 = hp.merge * hp.merge;
        maxPatches = Math.floor(opts.maxImagePixels / (hp.patchSize * hp.patchSize) / m2) * m2;
        if (!(maxPatches >= m2)) throw new ValidationError(`imageCache.maxImagePixels ${opts.maxImagePixels} is less than one token (${hp.unit}×${hp.unit} px)`);
      }
      tower = { kind: 'rope', enc: await RopeVisionEncoder.load(file, be, { maxPatches }) };
    } else {
      const perImage = maxTiles + (overview ? 1 : 0);
      const batch = opts.encodeBatch ?? Math.floor((256 << 20) / encoderBatchBytes(readVisionHParams(file)));
      if (opts.encodeBatch !== undefined && !(Number.isInteger(batch) && batch >= 1)) throw new ValidationError(`imageCache.encodeBatch must be a positive integer, got ${batch}`);
      tower = { kind: 'fixed', enc: await VisionEncoder.load(file, be, { maxTiles: Math.max(1, Math.min(perImage, batch)) }) };
    }
    const nOut = tower.enc.hp.nOut;
    if (nOut !== model.hp.nEmbd) throw new ValidationError(`projector: its embeddings are ${nOut} wide, the text model's n_embd is ${model.hp.nEmbd}`);
    model.enableEmbeddingInput();
    const core = await WasmCore.load({ variant: 'auto' });
    let locked: TileEncoder;
    if (tower.kind === 'fixed') {
      const encoder = tower.enc;
      locked = {
        digest: encoder.digest,
        maxTiles: encoder.maxTiles,
        hp: encoder.hp,
        // The view is copied under the lock: the next encode (another request's) overwrites it.
        encode: (tiles) => exclusive(async () => (await encoder.encode(tiles)).slice()),
      };
    } else {
      const encoder = tower.enc;
      const { hp } = encoder;
      const rule: DynamicSizeRule = { kind: hp.projector === 'pixtral' ? 'pixtral' : 'qwen', unit: hp.unit, maxSide: hp.imageSize, maxPixels: encoder.maxPatches * hp.patchSize * hp.patchSize };
      locked = {
        digest: encoder.digest,
        maxTiles: 1,
        hp: { imageSize: hp.imageSize, nTokens: 0, nOut: hp.nOut, imageMean: hp.imageMean, imageStd: hp.imageStd },
        encode: () => Promise.reject(new Error('dynamic-resolution encoder: blocks go through `dynamic`')),
        dynamic: {
          rule,
          encode: (chw, w, h) => exclusive(async () => {
            const o = await encoder.encode(chw, w, h);
            return { ...o, embd: o.embd.slice() };
          }),
        },
      };
    }
    const storage = opts.cache === false ? new NoStorage() : (opts.storage ?? new MemoryStorage({ budgetBytes: 512 << 20 }));
    const cache = new ImageCache({ encoder: locked, storage, core, maxTiles, overview });
    return new EngineVision(tower, cache, storage, tokenizer, model, exclusive, opts.kvReuse ?? true);
  }

  get projector(): string {
    return this.tower.enc.hp.projector;
  }

  /** Blocks encoded in one batch (dynamic-resolution towers: 1, each block has its own size). */
  get encodeBatch(): number {
    return this.tower.kind === 'fixed' ? this.tower.enc.maxTiles : 1;
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
    const bidirectional = this.layoutKind === 'gemma3';
    const { begin, end: endId, soft, brk } = this.ids;
    const tokens: number[] = [];
    const kvTokens: number[] = [];
    const spans: ImageSpan[] = [];
    const blocks: PromptImageBlock[] = [];
    const push = (id: number, kvId = id) => {
      tokens.push(id);
      kvTokens.push(kvId);
    };
    const pushText = (s: string, special: boolean) => {
      if (!s && !special) return;
      for (const id of tk.encode(s, { addSpecial: special, parseSpecial: true })) push(id);
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
        if (begin !== null) push(begin);
        const blk = img.blocks[t]!;
        const start = tokens.length;
        for (let r = 0; r < blk.nTokens; r++) {
          seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
          // pixtral: every (cols + 1)-th row is an [IMG_BREAK] row (its id is not read: the row is an embedding)
          const isBreak = brk !== null && blk.grid !== null && r % (blk.grid.cols + 1) === blk.grid.cols;
          push(isBreak ? brk : soft, -1 - (seed >>> 1)); // negative: never a vocabulary id
        }
        const end = tokens.length;
        if (endId !== null) push(endId);
        const last = t === tiles.length - 1 || (tiles[t + 1]!.kind === 'grid' && tiles[t + 1]!.row !== tile.row) || tile.kind === 'overview';
        if (several && last) pushText('\n', false);
        const rows = img.embeddings.subarray(blk.row0 * nEmbd, (blk.row0 + blk.nTokens) * nEmbd);
        spans.push({ start, end, hash: `${img.key}#${t}${nonce}`, rows, bidirectional, grid: blk.grid });
        blocks.push({ image: k, kind: tile.kind, row: tile.kind === 'grid' ? tile.row + 1 : 0, col: tile.kind === 'grid' ? tile.col + 1 : 0, box: tile.box, start, end, label });
      });
      pushText(parts[k + 1]!, false);
    });
    const { mrope, ropeDelta } = this.layoutKind === 'qwen' ? mropeOfPrompt(tokens.length, spans) : { mrope: null, ropeDelta: 0 };
    return { tokens, kvTokens, spans, blocks, mrope, ropeDelta };
  }

  /** The sequence on `tableSet` has ended: its M-RoPE offset goes back to 0. */
  endPrompt(tableSet: number): void {
    if (this.model.mropeDelta) this.model.mropeDelta[tableSet] = 0;
  }

  /**
   * Evaluates `p.tokens[seq.n, end)` of `seq` (its table set) chunk by chunk, each chunk one forward under the engine's
   * lock; a chunk holds rows of at most one image block: a bidirectional block (Gemma 3) whole (its rows attend
   * both ways), a causal one whole or split over chunks. qwen2vl: each chunk's M-RoPE positions from `p.mrope`,
   * and the sequence's offset (`p.ropeDelta`) set for the tokens generated after it (cleared by `endPrompt`).
   * Commits each chunk to `kvm`; `logits` gets the last row's logits.
   * @throws ValidationError when a bidirectional block does not fit one batch (num_batch).
   */
  async prefill(kvm: KvManager, seq: KvSequence, p: ImagePrompt, logits: Float32Array, signal?: AbortSignal): Promise<void> {
    const m = this.model;
    const n = p.tokens.length;
    const nEmbd = m.hp.nEmbd;
    const batched = (m.maxSeqs ?? 1) > 1 && !!m.forwardBatch;
    const b: Batch = { nSeq: 1, rowStart: new Int32Array(1), rowCount: new Int32Array(1), nKv: new Int32Array(1), tableSet: new Int32Array(1) };
    if (m.mropeDelta) m.mropeDelta[seq.tableSet] = p.ropeDelta;
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
        if (s.end > end && s.bidirectional) {
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
        if (p.mrope) {
          const mp = m.mropePositions!;
          for (let k = 0; k < 4; k++) mp.set(p.mrope.subarray(k * n + pos, k * n + end), k * len);
          m.mropeExplicit = true;
        }
        if (span) {
          const s0 = Math.max(span.start, pos), s1 = Math.min(span.end, end);
          m.enableEmbeddingInput().set(span.rows.subarray((s0 - span.start) * nEmbd, (s1 - span.start) * nEmbd), (s0 - pos) * nEmbd);
          m.embeddingRows = { start: s0 - pos, n: s1 - s0, bidirectional: span.bidirectional };
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
          m.mropeExplicit = false;
        }
        kvm.commit(seq, p.kvTokens, pos, len);
        logits.set(m.logits.subarray(0, logits.length));
      });
    }
  }
}
