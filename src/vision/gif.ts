/**
 * GIF first frame → RGB. omggif parses the block structure (frame box, palette, data offset);
 * the LZW data is decoded here, because omggif's own LZW loop can spin forever on corrupt codes
 * (found by test/vision/fuzz.test.ts): in this decoder every table entry's prefix is an older
 * entry, so string chains are acyclic, and an invalid code or a short stream is an error.
 */
import { GifReader } from 'omggif';

/** Decodes frame 0 onto a black `width`×`height` canvas (transparent pixels stay black). */
export function decodeGifFirstFrame(buf: Uint8Array, width: number, height: number): Uint8Array {
  const reader = new GifReader(buf);
  if (reader.numFrames() < 1) throw new Error('no image frame');
  const f = reader.frameInfo(0);
  if (f.palette_offset === null) throw new Error('no colour table');
  const indices = lzwDecode(buf, f.data_offset, f.width * f.height);
  const out = new Uint8Array(width * height * 3);
  // interlaced rows come in 4 passes: every 8th from 0, every 8th from 4, every 4th from 2, every 2nd from 1
  const rowOrder: number[] = [];
  if (f.interlaced) for (const [start, step] of [[0, 8], [4, 8], [2, 4], [1, 2]] as const) for (let r = start; r < f.height; r += step) rowOrder.push(r);
  else for (let r = 0; r < f.height; r++) rowOrder.push(r);
  for (let i = 0; i < f.height; i++) {
    const y = f.y + rowOrder[i]!;
    if (y >= height) continue;
    for (let fx = 0; fx < f.width; fx++) {
      const x = f.x + fx;
      if (x >= width) break;
      const k = indices[i * f.width + fx]!;
      if (k === f.transparent_index || k >= (f.palette_size ?? 0)) continue;
      const p = f.palette_offset + 3 * k;
      out.set(buf.subarray(p, p + 3), 3 * (y * width + x));
    }
  }
  return out;
}

/** The LZW image data at `p` (min code size, then sub-blocks) → exactly `n` palette indices. */
function lzwDecode(buf: Uint8Array, p: number, n: number): Uint8Array {
  const minSize = buf[p++]!;
  if (!(minSize >= 2 && minSize <= 8)) throw new Error(`LZW minimum code size ${minSize} (2..8)`);
  const clear = 1 << minSize;
  const eoi = clear + 1;
  const prefix = new Uint16Array(4096); // entry → the older entry it extends
  const suffix = new Uint8Array(4096); // entry → its last index
  const first = new Uint8Array(4096); // entry → its first index
  const stack = new Uint8Array(4096);
  for (let c = 0; c < clear; c++) suffix[c] = first[c] = c;
  const out = new Uint8Array(n);
  let op = 0;
  let size = minSize + 1;
  let next = eoi + 1;
  let prev = -1;
  let bits = 0; // bit buffer
  let nbits = 0;
  let block = buf[p++] ?? 0; // bytes left in the current sub-block
  const emit = (code: number) => {
    let sp = 0;
    for (let c = code; ; c = prefix[c]!) {
      stack[sp++] = suffix[c]!;
      if (c < clear) break;
    }
    while (sp > 0 && op < n) out[op++] = stack[--sp]!;
  };
  while (op < n) {
    while (nbits < size && block > 0) {
      if (p >= buf.length) throw new Error('image data truncated');
      bits |= buf[p++]! << nbits;
      nbits += 8;
      if (--block === 0) block = buf[p++] ?? 0;
    }
    if (nbits < size) break; // data ended
    const code = bits & ((1 << size) - 1);
    bits >>>= size;
    nbits -= size;
    if (code === clear) {
      size = minSize + 1;
      next = eoi + 1;
      prev = -1;
      continue;
    }
    if (code === eoi) break;
    if (prev < 0) {
      if (code >= clear) throw new Error(`LZW code ${code} before any literal`);
      emit(code);
      prev = code;
      continue;
    }
    if (code > next || (code === next && next >= 4096)) throw new Error(`LZW code ${code} beyond the table (${next})`);
    const firstOfNew = code < next ? first[code]! : first[prev]!;
    if (next < 4096) {
      prefix[next] = prev;
      suffix[next] = firstOfNew;
      first[next] = first[prev]!;
      next++;
      if (next === 1 << size && size < 12) size++;
    }
    emit(code);
    prev = code;
  }
  if (op < n) throw new Error(`image data ends after ${op} of ${n} pixels`);
  return out;
}
