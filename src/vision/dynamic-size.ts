/**
 * Input size of an image block for the dynamic-resolution towers (Qwen2.5-VL, Pixtral / Mistral 3): the block at
 * its own resolution, sides multiples of the tower's `unit` (patch · merge), within a pixel budget.
 *
 * - qwen ('smart_resize' of Hugging Face's Qwen2-VL processor, llama.cpp's calc_size_preserved_ratio with
 *   min/max pixels): each side rounded to the unit; above `maxPixels` both sides shrink by √(w·h / max) and
 *   round down, below `minPixels` both grow by √(min / (w·h)) and round up.
 * - pixtral (Hugging Face's PixtralImageProcessor, llama.cpp's): shrunk (never grown) so that the longer side is
 *   at most `maxSide`, then each side rounded up to the unit; the pixel budget then holds since
 *   maxSide² ≤ maxPixels (both come from clip.vision.image_size).
 *
 * A 5000×5000 image in one block becomes maxSide × maxSide (pixtral) or √maxPixels per side (qwen): the tower's
 * memory and the prompt's rows are bounded by the budget, not by the image; more blocks (ImageCache maxTiles)
 * keep more of the resolution, each within the same budget.
 */
import { ValidationError } from '../errors.ts';

export interface DynamicSizeRule {
  kind: 'qwen' | 'pixtral';
  /** Sides are multiples of this many pixels. */
  unit: number;
  /** Largest side (pixtral). */
  maxSide: number;
  /** Most pixels of a block (its patches · patch²). */
  maxPixels: number;
  /** qwen: fewest pixels (default 4 · unit²: Hugging Face's 56² at unit 28). */
  minPixels?: number;
}

/** Model input size of a `width × height` block. */
export function dynamicSize(width: number, height: number, r: DynamicSizeRule): { width: number; height: number } {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width >= 1 && height >= 1)) throw new ValidationError(`dynamicSize: ${width}×${height} is not an image size`);
  const u = r.unit;
  if (r.kind === 'pixtral') {
    const ratio = Math.max(1, width / r.maxSide, height / r.maxSide);
    const w = Math.max(1, Math.floor(width / ratio)), h = Math.max(1, Math.floor(height / ratio));
    const out = { width: Math.ceil(w / u) * u, height: Math.ceil(h / u) * u };
    return fit(out, r);
  }
  const minPixels = r.minPixels ?? 4 * u * u;
  let h = Math.max(u, Math.round(height / u) * u), w = Math.max(u, Math.round(width / u) * u);
  if (h * w > r.maxPixels) {
    const beta = Math.sqrt((height * width) / r.maxPixels);
    h = Math.max(u, Math.floor(height / beta / u) * u);
    w = Math.max(u, Math.floor(width / beta / u) * u);
  } else if (h * w < minPixels) {
    const beta = Math.sqrt(minPixels / (height * width));
    h = Math.ceil((height * beta) / u) * u;
    w = Math.ceil((width * beta) / u) * u;
  }
  return fit({ width: w, height: h }, r);
}

/** Shrinks the longer side by units until the block is within the budget (extreme aspect ratios). */
function fit(s: { width: number; height: number }, r: DynamicSizeRule): { width: number; height: number } {
  const u = r.unit;
  while (s.width * s.height > r.maxPixels && (s.width > u || s.height > u)) {
    if (s.width >= s.height) s.width -= u;
    else s.height -= u;
  }
  if (s.width * s.height > r.maxPixels) throw new ValidationError(`dynamicSize: one unit (${u}×${u}) exceeds the budget of ${r.maxPixels} pixels`);
  return s;
}
