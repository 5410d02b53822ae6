/**
 * Patch order, positions and token layout of the 2D-RoPE vision towers, as llama.cpp's clip.cpp sets its
 * graph inputs (host-side, computed per image geometry):
 *
 * Pixtral: patches in raster order; positions (row, col). Output: the merged tokens row by row with an
 *   [IMG_BREAK] embedding after every row but the last (the encoder emits those rows, as llama.cpp's graph
 *   does); the text side then adds the [IMG_END] token.
 * Qwen2.5-VL: patches grouped by 2×2 merge unit (dy, dx inner), merge units grouped by attention window
 *   (windows of `window_size / patch / 2` merge units per side, raster order of windows, raster inside);
 *   positions (row, col, row, col) per patch; output merge units back in raster order.
 */
import { ValidationError } from '../../errors.ts';

/** Pixtral's output rows: ids into [break, token 0, token 1, …] (0 = [IMG_BREAK], 1 + i = merged token i). */
export function pixtralOutputIds(rows: number, cols: number, out: Int32Array): number {
  let n = 0;
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) out[n++] = 1 + y * cols + x;
    if (y < rows - 1) out[n++] = 0;
  }
  return n;
}

export type PixtralToken = 'image' | '[IMG_BREAK]' | '[IMG_END]';

/**
 * The token layout of one Pixtral image in the prompt: for each of `rows` rows of `cols` image tokens, the
 * row then [IMG_BREAK], the last row followed by [IMG_END] instead. The encoder's output covers every entry
 * but the final [IMG_END] (a text token), in this order.
 */
export function pixtralTokenLayout(rows: number, cols: number): PixtralToken[] {
  const out: PixtralToken[] = [];
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) out.push('image');
    out.push(y < rows - 1 ? '[IMG_BREAK]' : '[IMG_END]');
  }
  return out;
}

export interface QwenWindows {
  /** Merge units per side of the grid. */
  mw: number;
  mh: number;
  /** Merge unit in raster order → its slot in window order (llama.cpp's window_idx). */
  idx: Int32Array;
  /** Windows as [first patch row, patch rows] in window order. */
  windows: [number, number][];
}

/** Window order of a grid of `pw × ph` patches (even), windows of `grid` merge units per side (0: one window). */
export function qwenWindows(pw: number, ph: number, grid: number): QwenWindows {
  const mw = pw / 2, mh = ph / 2;
  const g = grid > 0 ? grid : Math.max(mw, mh);
  const idx = new Int32Array(mw * mh);
  const windows: [number, number][] = [];
  let dst = 0;
  for (let y = 0; y < mh; y += g) {
    for (let x = 0; x < mw; x += g) {
      const h = Math.min(g, mh - y), w = Math.min(g, mw - x);
      windows.push([dst * 4, h * w * 4]);
      for (let dy = 0; dy < h; dy++) for (let dx = 0; dx < w; dx++) idx[(y + dy) * mw + x + dx] = dst++;
    }
  }
  return { mw, mh, idx, windows };
}

/** Row (in window order) of patch (py, px): merge unit slot · 4 + (py mod 2)·2 + px mod 2. */
export function qwenPatchRow(w: QwenWindows, py: number, px: number): number {
  return w.idx[(py >> 1) * w.mw + (px >> 1)]! * 4 + (py & 1) * 2 + (px & 1);
}

/**
 * Qwen2-VL M-RoPE positions of an image's `rows × cols` tokens (raster order) starting at text position
 * `pos0`, written into `mpos` `[4][nTok]` at rows `[row0, row0 + rows·cols)`: t = pos0, h = pos0 + y,
 * w = pos0 + x, e = 0 (llama.cpp's mtmd `set_position_mrope_2d`). Returns the next text position,
 * pos0 + max(rows, cols) (an image advances the text positions by its larger side, not its token count).
 */
export function qwenImagePositions(mpos: Int32Array, nTok: number, row0: number, pos0: number, rows: number, cols: number): number {
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < cols; x++) {
      const i = row0 + y * cols + x;
      mpos[i] = pos0;
      mpos[nTok + i] = pos0 + y;
      mpos[2 * nTok + i] = pos0 + x;
      mpos[3 * nTok + i] = 0;
    }
  }
  return pos0 + Math.max(rows, cols);
}

/**
 * Qwen2-VL M-RoPE positions of a prompt of `n` tokens whose image blocks are `spans` (rows [start, end), in order,
 * each with its token grid):
 * text (p, p, p, 0) with p counting on; a block of rows × cols at text position p: (p, p + y, p + x, 0) in raster
 * order, the text after it from p + max(rows, cols). Returns i32 [4][n] and the final position minus n.
 */
export function mropeOfPrompt(n: number, spans: readonly { start: number; end: number; grid: { rows: number; cols: number } | null }[]): { mrope: Int32Array; ropeDelta: number } {
  const mrope = new Int32Array(4 * n);
  let p = 0;
  let i = 0;
  const text = (upTo: number) => {
    for (; i < upTo; i++, p++) {
      mrope[i] = p;
      mrope[n + i] = p;
      mrope[2 * n + i] = p;
    }
  };
  for (const s of spans) {
    text(s.start);
    const g = s.grid;
    if (!g || g.rows * g.cols !== s.end - s.start) throw new ValidationError(`images: a block of ${s.end - s.start} rows has no ${g ? `${g.rows}×${g.cols} ` : ''}token grid for M-RoPE`);
    p = qwenImagePositions(mrope, n, s.start, p, g.rows, g.cols);
    i = s.end;
  }
  text(n);
  return { mrope, ropeDelta: p - n };
}
