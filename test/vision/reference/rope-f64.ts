/**
 * Float64 references of the multi-position RoPE modes (wasm/ABI.md op 4, modes 8, 24, 64), written from
 * llama.cpp's formulas with exact angles (no f32 recursion), in place on rows `[nTok][nHead][headDim]`:
 * - 'mrope' (ggml MROPE, Qwen2-VL text): NeoX pairs (i, i + nRot/2), stream by sector = i mod Σsections,
 *   θ = pos_s · base^(−2i/nRot);
 * - 'vision' (ggml VISION, Qwen2-VL ViT): nRot = headDim/2, pairs (i, i + nRot), stream by sector, each
 *   section restarting: θ = pos_s · base^(−2(i − start_s)/nRot);
 * - '2d' (Pixtral, build_rope_2d): adjacent pairs; first half of nRot by row at base^(−2i/(nRot/2)), second
 *   half by col at base^(−2/nRot)·base^(−2j/(nRot/2)).
 * `pos(k, t)`: stream k (0..3; '2d': 0 row, 1 col) of token t.
 */
export type RopeMultiMode = 'mrope' | 'vision' | '2d';

export interface RopeMultiSpec {
  mode: RopeMultiMode;
  nHead: number;
  headDim: number;
  nRot: number;
  base: number;
  sections?: readonly number[];
}

/** [a, b, stream, exponent e] per pair: θ = pos_stream · base^e (· extra). */
function pairs(s: RopeMultiSpec): [number, number, number, number][] {
  const out: [number, number, number, number][] = [];
  const sec = s.sections ?? [0, 0, 0, 0];
  const total = sec.reduce((a, b) => a + b, 0);
  const streamOf = (sector: number): [number, number] => {
    let start = 0;
    for (let k = 0; k < 3; k++) {
      if (sector < start + sec[k]!) return [k, start];
      start += sec[k]!;
    }
    return [3, start];
  };
  if (s.mode === 'mrope') {
    for (let i = 0; i < s.nRot / 2; i++) out.push([i, i + s.nRot / 2, streamOf(i % total)[0], (-2 * i) / s.nRot]);
  } else if (s.mode === 'vision') {
    for (let i = 0; i < s.nRot; i++) {
      const [k, start] = streamOf(i % total);
      out.push([i, i + s.nRot, k, (-2 * ((i % total) - start)) / s.nRot]);
    }
  } else {
    const half = s.nRot / 2;
    for (let i = 0; i < half / 2; i++) {
      out.push([2 * i, 2 * i + 1, 0, (-2 * i) / half]);
      out.push([half + 2 * i, half + 2 * i + 1, 1, (-2 * i) / half - 2 / s.nRot]);
    }
  }
  return out;
}

export function ropeMultiF64(x: Float64Array, nTok: number, s: RopeMultiSpec, pos: (k: number, t: number) => number): void {
  const ps = pairs(s);
  for (let t = 0; t < nTok; t++) {
    const cs = ps.map(([, , k, e]) => {
      const th = pos(k, t) * Math.pow(s.base, e);
      return [Math.cos(th), Math.sin(th)] as const;
    });
    for (let h = 0; h < s.nHead; h++) {
      const o = (t * s.nHead + h) * s.headDim;
      ps.forEach(([a, b], j) => {
        const [c, sn] = cs[j]!;
        const x0 = x[o + a]!, x1 = x[o + b]!;
        x[o + a] = x0 * c - x1 * sn;
        x[o + b] = x0 * sn + x1 * c;
      });
    }
  }
}
