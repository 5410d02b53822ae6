/**
 * Blocks with coordinates: a large image is split into a grid of blocks, each resampled to the
 * model's tile size, each carrying where it came from, so that positions (2D RoPE, row separators)
 * can be derived from `row`/`col` and an answer can refer to a block by its place.
 *
 * The grid (rows × cols ≤ maxTiles) minimises |ln(aspect error)| + |ln(tiles / tiles needed)|,
 * where "needed" = ⌈W/tile⌉·⌈H/tile⌉ (capped at maxTiles): the tiles that keep the original
 * resolution; ties go to fewer tiles. Column edges are `round(i·W/cols)`, row edges
 * `round(j·H/rows)`, so the boxes cover the image exactly once. An optional overview (a thumbnail
 * of the whole image at tile size, as llava-uhd / MiniCPM-V / Gemma 3 pan-and-scan add) comes
 * first. Memory: the image is decoded once into the core; each block is resampled from it on its
 * own, so only one tile's tensor exists at a time.
 */
import { ValidationError } from '../errors.ts';
import type { CoreImage, PixelBox, ResampleFilter } from './preprocess.ts';

export interface Tile {
  kind: 'grid' | 'overview';
  /** Grid position (0-based; the overview is row 0, col 0 of its own 1×1 grid). */
  row: number;
  col: number;
  /** Pixel box in the original image. */
  box: PixelBox;
  /** Output pixels per original pixel along x and y (tileWidth / box.width, tileHeight / box.height). */
  scaleX: number;
  scaleY: number;
}

export interface TileGrid {
  rows: number;
  cols: number;
  tileWidth: number;
  tileHeight: number;
  /** The overview (if asked for) first, then the grid in row-major order. */
  tiles: Tile[];
}

export interface TileOptions {
  /** Model input size of one block, in pixels. */
  tileWidth: number;
  tileHeight: number;
  /** Most grid blocks (the overview not counted). */
  maxTiles: number;
  /** Add a thumbnail of the whole image. Default false. */
  overview?: boolean;
}

/** Plans the grid for an image of `width`×`height`. */
export function planTiles(width: number, height: number, opts: TileOptions): TileGrid {
  const { tileWidth: tw, tileHeight: th, maxTiles } = opts;
  const posInt = (v: number) => Number.isInteger(v) && v >= 1;
  if (![width, height, tw, th, maxTiles].every(posInt)) {
    throw new ValidationError(`planTiles: sizes and maxTiles must be positive integers (image ${width}×${height}, tile ${tw}×${th}, maxTiles ${maxTiles})`);
  }
  const needed = Math.min(maxTiles, Math.ceil(width / tw) * Math.ceil(height / th));
  const aspect = width / tw / (height / th); // in tile units
  let best = { rows: 1, cols: 1, score: Infinity };
  for (let rows = 1; rows <= maxTiles; rows++) {
    for (let cols = 1; rows * cols <= maxTiles; cols++) {
      if (cols > width || rows > height) continue; // every block at least one pixel
      const score = Math.abs(Math.log(cols / rows / aspect)) + Math.abs(Math.log((rows * cols) / needed));
      const better = score < best.score - 1e-12 || (Math.abs(score - best.score) <= 1e-12 && rows * cols < best.rows * best.cols);
      if (better) best = { rows, cols, score };
    }
  }
  const { rows, cols } = best;
  const tile = (kind: Tile['kind'], row: number, col: number, box: PixelBox): Tile => ({ kind, row, col, box, scaleX: tw / box.width, scaleY: th / box.height });
  const tiles: Tile[] = [];
  if (opts.overview) tiles.push(tile('overview', 0, 0, { x: 0, y: 0, width, height }));
  const xs = Array.from({ length: cols + 1 }, (_, i) => Math.round((i * width) / cols));
  const ys = Array.from({ length: rows + 1 }, (_, j) => Math.round((j * height) / rows));
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      tiles.push(tile('grid', r, c, { x: xs[c]!, y: ys[r]!, width: xs[c + 1]! - xs[c]!, height: ys[r + 1]! - ys[r]! }));
    }
  }
  return { rows, cols, tileWidth: tw, tileHeight: th, tiles };
}

/** Normalisation and filter of the model's preprocessing. */
export interface TileNorm {
  filter: ResampleFilter;
  mean?: readonly [number, number, number];
  std?: readonly [number, number, number];
}

/**
 * Each block's f32 CHW tensor `[3][tileHeight][tileWidth]`, one at a time. Pass `out` to reuse one
 * buffer for every block (then copy what you keep before the next step).
 */
export function* tileTensors(img: CoreImage, grid: TileGrid, norm: TileNorm, out?: Float32Array): Generator<{ tile: Tile; data: Float32Array }> {
  for (const tile of grid.tiles) {
    const data = img.resample({ box: tile.box, outWidth: grid.tileWidth, outHeight: grid.tileHeight, ...norm }, out);
    yield { tile, data };
  }
}
