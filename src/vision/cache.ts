/**
 * The image cache: image bytes → tiles → encoder embeddings, each step skipped when storage already holds
 * the result. Entries go through the storage interface (memory, fs, redis; safetensors values).
 *
 *   entry key   img/e/<encoder digest[:32]>/<sha256(image bytes)>.<sha256(settings)[:16]>
 *   value       pixels      F32 [tiles][3][tile_h][tile_w]   the preprocessed tiles (model mean/std applied)
 *               embeddings  F32 [tiles][n_tokens][n_out]     the encoder's output, tile-major
 *               meta        image_sha256, settings (JSON), encoder_digest, grid (JSON: rows, cols, tiles), session
 *   dynamic-resolution encoders (`TileEncoder.dynamic`: Qwen2.5-VL, Pixtral): each block has its own input size
 *   (dynamic-size.ts) and token count, so the tensors are the blocks' concatenation:
 *               pixels      F32 [Σ 3·h_i·w_i]                 block i: [3][h_i][w_i]
 *               embeddings  F32 [Σ n_i][n_out]                block i: its n_i rows
 *               meta.blocks JSON EncodedBlock[] (row offset, rows, input size and token grid of each block)
 *   session tag img/s/<session>/<encoder digest[:32]>.<sha256(image)>.<sha256(settings)[:16]>  (empty value, meta.entry)
 *
 * Every session that encodes (or hits) an entry tags it; `dropSession` removes the session's tags and the
 * entries no other session tags. A tag whose entry was evicted (storage budget) is a miss.
 *
 * @example
 * const cache = new ImageCache({ encoder, storage: new MemoryStorage(), core: be.core });
 * const { embeddings, cached } = await cache.encode(pngBytes, 'chat-42');
 */
import { createHash } from 'node:crypto';
import type { WasmCore } from '../backend/wasm/core.ts';
import { ValidationError } from '../errors.ts';
import type { Storage, StoredValue } from '../storage/types.ts';
import { decodeImage, type DecodedImage } from './decode.ts';
import { CoreImage, type ResampleFilter } from './preprocess.ts';
import { dynamicSize, type DynamicSizeRule } from './dynamic-size.ts';
import { planTiles, type TileGrid } from './tiles.ts';

/** What the cache needs of an encoder (VisionEncoder implements it). */
export interface TileEncoder {
  readonly digest: string;
  readonly maxTiles: number;
  readonly hp: { imageSize: number; nTokens: number; nOut: number; imageMean: readonly [number, number, number]; imageStd: readonly [number, number, number] };
  /** f32 CHW tiles → `[tiles·n_tokens][n_out]` (a view valid until the next call). */
  encode(tiles: readonly Float32Array[]): Promise<Float32Array>;
  /** A dynamic-resolution encoder: blocks at their own size (then `encode` and `hp.nTokens` are unused). */
  readonly dynamic?: DynamicBlockEncoder;
}

/** An encoder that takes each block at its own size (RopeVisionEncoder through EngineVision). */
export interface DynamicBlockEncoder {
  /** Settings that decide the sizes (part of the cache key). */
  readonly rule: DynamicSizeRule;
  /** One block, f32 CHW `[3][height][width]` → rows `[nTokens][n_out]` (a copy) and its merged token grid. */
  encode(chw: Float32Array, width: number, height: number): Promise<{ embd: Float32Array; nTokens: number; rows: number; cols: number }>;
}

/** Where one block's rows are in `EncodedImage.embeddings`, and its token grid. */
export interface EncodedBlock {
  /** First row and rows. */
  row0: number;
  nTokens: number;
  /** Model input size of the block. */
  width: number;
  height: number;
  /** Merged token grid (dynamic encoders: Qwen's (h, w) for M-RoPE, Pixtral's rows of [IMG_BREAK]); null for fixed tiles. */
  grid: { rows: number; cols: number } | null;
}

export interface ImagePreprocessing {
  /** Grid blocks at most (default 1: the whole image resized to one tile). */
  maxTiles?: number;
  /** Add a whole-image thumbnail before the grid (default false). */
  overview?: boolean;
  /** Default 'bicubic' (CLIP's processor). */
  filter?: ResampleFilter;
  /**
   * Pad the image to a square (centered, this RGB colour) before tiling, as llava 1.5 and llama.cpp's fixed-size
   * preprocessing do (they pad with the mean colour 122, 116, 104). Default null: no padding (the image is stretched).
   */
  padColor?: readonly [number, number, number] | null;
}

export interface ImageCacheOptions extends ImagePreprocessing {
  encoder: TileEncoder;
  storage: Storage;
  /** The WASM core that resamples (e.g. the backend's `core`). */
  core: WasmCore;
  /** Default decodeImage (injectable for tests and other decoders). */
  decode?: (bytes: Uint8Array) => Promise<DecodedImage>;
}

export interface EncodedImage {
  key: string;
  /** f32 [tiles][n_tokens][n_out]. */
  embeddings: Float32Array;
  /** f32 [tiles][3][tile_h][tile_w]. */
  pixels: Float32Array;
  grid: Pick<TileGrid, 'rows' | 'cols' | 'tileWidth' | 'tileHeight' | 'tiles'>;
  nTiles: number;
  /** Per tile (grid.tiles order): its rows in `embeddings`. */
  blocks: EncodedBlock[];
  /** true when storage held the entry (nothing decoded or encoded). */
  cached: boolean;
}

const SEGMENT = /^[A-Za-z0-9._-]{1,100}$/;
const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex');

export class ImageCache {
  readonly settings: Required<ImagePreprocessing> & { tileWidth: number; tileHeight: number; mean: readonly number[]; std: readonly number[] };
  private readonly settingsHash: string;
  private readonly encDigest: string;

  constructor(private readonly opts: ImageCacheOptions) {
    const { hp } = opts.encoder;
    this.settings = {
      maxTiles: opts.maxTiles ?? 1, overview: opts.overview ?? false, filter: opts.filter ?? 'bicubic', padColor: opts.padColor ?? null,
      tileWidth: hp.imageSize, tileHeight: hp.imageSize, mean: [...hp.imageMean], std: [...hp.imageStd],
    };
    const dyn = opts.encoder.dynamic;
    this.settingsHash = sha256(JSON.stringify(dyn ? { v: 1, ...this.settings, dynamic: dyn.rule } : { v: 1, ...this.settings })).slice(0, 16);
    this.encDigest = opts.encoder.digest.slice(0, 32);
  }

  /** The storage key of an image's entry. */
  keyOf(bytes: Uint8Array): string {
    return `img/e/${this.encDigest}/${sha256(bytes)}.${this.settingsHash}`;
  }

  /** Embeddings of an image for `session`: from storage when present, else decoded, tiled, encoded and stored. */
  async encode(bytes: Uint8Array, session: string): Promise<EncodedImage> {
    checkSession(session);
    const key = this.keyOf(bytes);
    const { storage } = this.opts;
    const hit = await storage.get(key);
    const value = hit ?? (await this.compute(bytes, session));
    await storage.put(tagKey(session, key), { tensors: [], meta: { entry: key } });
    if (!hit) await storage.put(key, value);
    const t = (name: string) => {
      const s = value.tensors.find((x) => x.name === name)!;
      const b = s.bytes.byteOffset % 4 === 0 ? s.bytes : s.bytes.slice(); // f32 views need 4-byte alignment
      return new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
    };
    const grid = JSON.parse(value.meta.grid!) as EncodedImage['grid'];
    const { nTokens } = this.opts.encoder.hp;
    const blocks: EncodedBlock[] = value.meta.blocks
      ? (JSON.parse(value.meta.blocks) as EncodedBlock[])
      : grid.tiles.map((_, i) => ({ row0: i * nTokens, nTokens, width: grid.tileWidth, height: grid.tileHeight, grid: null }));
    return { key, embeddings: t('embeddings'), pixels: t('pixels'), grid, nTiles: grid.tiles.length, blocks, cached: hit !== null };
  }

  private async compute(bytes: Uint8Array, session: string): Promise<StoredValue> {
    const { encoder, core } = this.opts;
    const s = this.settings;
    const decoded = await (this.opts.decode ?? decodeImage)(bytes);
    const img = s.padColor ? padToSquare(decoded, s.padColor) : decoded;
    const grid = planTiles(img.width, img.height, { tileWidth: s.tileWidth, tileHeight: s.tileHeight, maxTiles: s.maxTiles, overview: s.overview });
    if (encoder.dynamic) return this.computeDynamic(bytes, session, img, grid, encoder.dynamic);
    const nTiles = grid.tiles.length;
    const tileLen = 3 * s.tileWidth * s.tileHeight;
    const pixels = new Float32Array(nTiles * tileLen);
    const placed = CoreImage.place(core, img);
    try {
      grid.tiles.forEach((tile, i) => {
        placed.resample({ box: tile.box, outWidth: s.tileWidth, outHeight: s.tileHeight, filter: s.filter, mean: encoder.hp.imageMean, std: encoder.hp.imageStd }, pixels.subarray(i * tileLen, (i + 1) * tileLen));
      });
    } finally {
      placed.dispose();
    }
    const per = encoder.hp.nTokens * encoder.hp.nOut;
    const embeddings = new Float32Array(nTiles * per);
    for (let t0 = 0; t0 < nTiles; t0 += encoder.maxTiles) {
      const n = Math.min(encoder.maxTiles, nTiles - t0);
      const batch = Array.from({ length: n }, (_, i) => pixels.subarray((t0 + i) * tileLen, (t0 + i + 1) * tileLen));
      embeddings.set((await encoder.encode(batch)).subarray(0, n * per), t0 * per);
    }
    const u8 = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    return {
      tensors: [
        { name: 'pixels', dtype: 'F32', shape: [nTiles, 3, s.tileHeight, s.tileWidth], bytes: u8(pixels) },
        { name: 'embeddings', dtype: 'F32', shape: [nTiles, encoder.hp.nTokens, encoder.hp.nOut], bytes: u8(embeddings) },
      ],
      meta: {
        image_sha256: sha256(bytes),
        settings: JSON.stringify(s),
        encoder_digest: encoder.digest,
        grid: JSON.stringify({ rows: grid.rows, cols: grid.cols, tileWidth: grid.tileWidth, tileHeight: grid.tileHeight, tiles: grid.tiles }),
        session,
      },
    };
  }

  /**
   * Dynamic-resolution encoders: each block resampled to its own size (dynamic-size.ts), then encoded on its own.
   * Memory: the blocks' pixels (≤ (maxTiles + 1) · max pixels · 12 bytes) and the encoder's buffers (sized once
   * for its most patches).
   */
  private async computeDynamic(bytes: Uint8Array, session: string, img: Pick<DecodedImage, 'width' | 'height' | 'data'>, grid: TileGrid, enc: DynamicBlockEncoder): Promise<StoredValue> {
    const { encoder, core } = this.opts;
    const s = this.settings;
    const nOut = encoder.hp.nOut;
    const pixels: Float32Array[] = [];
    const embd: Float32Array[] = [];
    const blocks: EncodedBlock[] = [];
    // Every block resampled before any await: the core's arena is a stack that concurrent requests share.
    const placed = CoreImage.place(core, img);
    try {
      for (const tile of grid.tiles) {
        const size = dynamicSize(tile.box.width, tile.box.height, enc.rule);
        pixels.push(placed.resample({ box: tile.box, outWidth: size.width, outHeight: size.height, filter: s.filter, mean: encoder.hp.imageMean, std: encoder.hp.imageStd }));
        blocks.push({ row0: 0, nTokens: 0, width: size.width, height: size.height, grid: null });
      }
    } finally {
      placed.dispose();
    }
    let row0 = 0;
    for (let i = 0; i < blocks.length; i++) {
      const b = blocks[i]!;
      const out = await enc.encode(pixels[i]!, b.width, b.height);
      embd.push(out.embd.subarray(0, out.nTokens * nOut));
      Object.assign(b, { row0, nTokens: out.nTokens, grid: { rows: out.rows, cols: out.cols } });
      row0 += out.nTokens;
    }
    const cat = (parts: Float32Array[]) => {
      const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
      let o = 0;
      for (const p of parts) {
        all.set(p, o);
        o += p.length;
      }
      return all;
    };
    const u8 = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    const px = cat(pixels);
    return {
      tensors: [
        { name: 'pixels', dtype: 'F32', shape: [px.length], bytes: u8(px) },
        { name: 'embeddings', dtype: 'F32', shape: [row0, nOut], bytes: u8(cat(embd)) },
      ],
      meta: {
        image_sha256: sha256(bytes),
        settings: JSON.stringify({ ...s, dynamic: enc.rule }),
        encoder_digest: encoder.digest,
        grid: JSON.stringify({ rows: grid.rows, cols: grid.cols, tileWidth: grid.tileWidth, tileHeight: grid.tileHeight, tiles: grid.tiles }),
        blocks: JSON.stringify(blocks),
        session,
      },
    };
  }

  /** Entry keys `session` has encoded or hit. */
  async listSession(session: string): Promise<string[]> {
    checkSession(session);
    const tags = await this.opts.storage.list(`img/s/${session}/`);
    return tags.map(entryOfTag).sort();
  }

  /** Drops the session's tags and the entries no other session tags; returns the entries deleted. */
  async dropSession(session: string): Promise<number> {
    checkSession(session);
    const { storage } = this.opts;
    const mine = await storage.list(`img/s/${session}/`);
    for (const tag of mine) await storage.delete(tag);
    const stillTagged = new Set((await storage.list('img/s/')).map(entryOfTag));
    let dropped = 0;
    for (const entry of new Set(mine.map(entryOfTag))) {
      if (!stillTagged.has(entry) && (await storage.delete(entry))) dropped++;
    }
    return dropped;
  }
}

/** The image centered on a square of `color` (side max(width, height)). */
function padToSquare(img: DecodedImage, color: readonly [number, number, number]): Pick<DecodedImage, 'width' | 'height' | 'data'> {
  const m = Math.max(img.width, img.height);
  if (m === img.width && m === img.height) return img;
  const data = new Uint8Array(m * m * 3);
  for (let i = 0; i < m * m; i++) data.set(color, 3 * i);
  const x0 = Math.floor((m - img.width) / 2);
  const y0 = Math.floor((m - img.height) / 2);
  for (let y = 0; y < img.height; y++) data.set(img.data.subarray(3 * y * img.width, 3 * (y + 1) * img.width), 3 * ((y0 + y) * m + x0));
  return { width: m, height: m, data };
}

function checkSession(session: string): void {
  if (!SEGMENT.test(session)) throw new ValidationError(`image cache: session must be 1..100 characters of [A-Za-z0-9._-], got ${JSON.stringify(session)}`);
}

/** img/e/<enc>/<img>.<set> → img/s/<session>/<enc>.<img>.<set> */
function tagKey(session: string, entry: string): string {
  return `img/s/${session}/${entry.slice('img/e/'.length).replace('/', '.')}`;
}

function entryOfTag(tag: string): string {
  const last = tag.slice(tag.lastIndexOf('/') + 1); // <enc>.<img>.<set>
  const dot = last.indexOf('.');
  return `img/e/${last.slice(0, dot)}/${last.slice(dot + 1)}`;
}
