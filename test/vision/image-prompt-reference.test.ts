/**
 * An image prompt end to end through the Engine against an independent float64 reference, per encoder family
 * (llava, Gemma 3, Qwen2.5-VL, Pixtral / Mistral 3; synthetic text model + synthetic mmproj, F32 weights, F32 KV):
 * the test computes the pixels itself (the image's size is the model's input size, so preprocessing is
 * (v/255 − mean)/std), runs the float64 encoder (reference/clip-f64.ts, reference/rope-vit-f64.ts), lays the
 * prompt out itself (tokens, image rows, positions: M-RoPE (t, h, w) for qwen) and runs the float64 text model
 * (reference/text-f64.ts). Checked, with these tolerances:
 *   - the engine's image embeddings (its image cache entry) vs the reference encoder:
 *       min cosine per row ≥ 0.99999, max |Δ| / max |ref| ≤ 1e-3          (measured ≤ 3.5e-4)
 *   - the engine's first-token log-probabilities (top 40) vs the reference's log-softmax: max |Δ| ≤ 3e-3
 *     (measured 5e-4 .. 1.2e-3: the engine's GELU is ggml's f16 table, as llama.cpp's, the reference the exact
 *     tanh form; that error enters through the encoders' GELUs and Gemma's GEGLU)
 *   - the text side alone (the reference text model fed the engine's own embeddings): ≤ 2e-5 (measured ~1.5e-6),
 *     Gemma 3 ≤ 1e-3 (measured 4.8e-4, its GEGLU)
 *   - qwen: the second token's log-probabilities too (decode after the image: text positions go on at the
 *     image start + max(rows, cols), not at the KV slot), ≤ 3e-3 (measured 4.7e-4)
 * and that each comparison can fail: the reference with a wrong layout or wrong positions (qwen: 1D positions,
 * and the generated token at its KV slot; pixtral: no [IMG_BREAK] row; Gemma 3: causal image rows; llava: image
 * rows in column order) differs from the engine by more than 0.1 (33× the tolerance; measured 0.47 .. 1.8).
 * Also qwen with an image in 3 blocks (maxTiles 4: overview + 1×2 grid; the blocks' pixels from the engine's cache
 * entry), each block with its <block …> label, vision_start/end and M-RoPE grid: ≤ 3e-3 (measured 6.5e-4; with
 * 1D positions 3.1). Measured figures are printed.
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createEngine, type TokenLogprob } from '../../src/engine.ts';
import { openGguf, type GgufFile } from '../../src/gguf/reader.ts';
import { buildPng, pattern } from './images.ts';
import { referenceEncode } from './reference/clip-f64.ts';
import { referenceRopeEncode } from './reference/rope-vit-f64.ts';
import { logSoftmax, referenceTextLogits, type TextPromptF64 } from './reference/text-f64.ts';
import { writeGemma3Vision, writeLlavaVision, writePixtralVision, writeQwenVision, type VisionFiles } from './vision-model.ts';

const DIR = join(tmpdir(), `tessera-image-prompt-ref-${process.pid}`);
mkdirSync(DIR, { recursive: true });

const TOL = { cos: 0.99999, rel: 1e-3, logprob: 3e-3, text: 2e-5, textGemma: 1e-3, control: 0.1 };
const TOP = 40;

type Family = 'llava' | 'gemma3' | 'qwen' | 'pixtral';
const FAMILIES: [Family, (dir: string) => Promise<VisionFiles>, number, number][] = [
  ['llava', writeLlavaVision, 16, 16],
  ['gemma3', writeGemma3Vision, 32, 32],
  ['qwen', writeQwenVision, 24, 16],
  ['pixtral', writePixtralVision, 24, 16],
];

/** f32 CHW of an RGB image, normalised with the projector's mean/std. */
function pixels(rgb: Uint8Array, w: number, h: number, proj: GgufFile): Float32Array {
  const mean = (proj.metadata.get('clip.vision.image_mean') as ArrayLike<number>);
  const std = (proj.metadata.get('clip.vision.image_std') as ArrayLike<number>);
  const out = new Float32Array(3 * w * h);
  for (let c = 0; c < 3; c++) for (let i = 0; i < w * h; i++) out[c * w * h + i] = (rgb[3 * i + c]! / 255 - Number(mean[c])) / Number(std[c]);
  return out;
}

/** Max |Δ| between the engine's top log-probabilities and the reference's. */
function lpDiff(got: TokenLogprob, ref: Float64Array): number {
  let d = 0;
  for (const t of got.top) d = Math.max(d, Math.abs(t.logprob - ref[t.token]!));
  return d;
}

function embdDiff(got: Float32Array, ref: Float64Array, nTok: number, nOut: number): { minCos: number; rel: number } {
  let minCos = 1, maxRef = 0, maxErr = 0;
  for (let t = 0; t < nTok; t++) {
    let dot = 0, ga = 0, ra = 0;
    for (let o = 0; o < nOut; o++) {
      const g = got[t * nOut + o]!, r = ref[t * nOut + o]!;
      dot += g * r; ga += g * g; ra += r * r;
      maxRef = Math.max(maxRef, Math.abs(r));
      maxErr = Math.max(maxErr, Math.abs(g - r));
    }
    minCos = Math.min(minCos, dot / Math.sqrt(ga * ra));
  }
  return { minCos, rel: maxErr / maxRef };
}

/** 1D positions 0..n−1 as M-RoPE streams (t = h = w = i), or plain. */
function linearPos(n: number, streams: boolean): Int32Array {
  const p = new Int32Array(streams ? 4 * n : n);
  for (let i = 0; i < n; i++) for (let k = 0; k < (streams ? 3 : 1); k++) p[k * n + i] = i;
  return p;
}

describe.each(FAMILIES)('%s: an image prompt through the engine vs float64 encoder + text model', (family, write, W, H) => {
  it('image embeddings and first-token log-probabilities match; a wrong layout or wrong positions do not', async () => {
    const files = await write(DIR);
    const rgb = pattern(W, H);
    const png = buildPng(W, H, 2, rgb);
    const e = await createEngine({ model: files.model, projector: files.projector, threads: 2, backend: 'wasm', tune: false, numCtx: 128, kvType: 'f32', kvPageSize: 16, numParallel: 2 });
    try {
      const nPredict = family === 'qwen' ? 2 : 1;
      const gen = e.generate({ prompt: 'hello <__media__> world', images: [png], options: { temperature: 0, num_predict: nPredict, seed: 1 }, logprobs: TOP, session: 'ref' });
      const lps: TokenLogprob[] = [];
      const toks: number[] = [];
      for await (const c of gen) {
        if (c.logprobs) lps.push(...c.logprobs);
        if (c.token >= 0) toks.push(c.token);
      }
      expect(lps.length).toBe(nPredict);

      // The encoder: float64 from pixels computed here.
      const proj = await openGguf(files.projector);
      const chw = pixels(rgb, W, H, proj);
      const ref = family === 'llava' || family === 'gemma3' ? await referenceEncode(proj, chw) : await referenceRopeEncode(proj, chw, W, H);
      const enc = await e.vision!.cache.encode(png, 'ref');
      expect(enc.cached).toBe(true);
      expect(enc.embeddings.length).toBe(ref.nTok * ref.nOut);
      const ed = embdDiff(enc.embeddings, ref.out, ref.nTok, ref.nOut);

      // The prompt, laid out here.
      const tk = e.tokenizer;
      const id = (s: string) => Array.from({ length: tk.vocabSize }, (_, i) => i).find((i) => tk.tokenText(i) === s)!;
      const pre = tk.encode('hello ', { addSpecial: true, parseSpecial: true });
      const post = tk.encode(' world', { addSpecial: false, parseSpecial: true });
      const rows = Array.from({ length: ref.nTok }, (_, r) => ref.out.subarray(r * ref.nOut, (r + 1) * ref.nOut));
      const [open, close] = family === 'gemma3' ? [[id('<start_of_image>')], [id('<end_of_image>')]] : family === 'qwen' ? [[id('<|vision_start|>')], [id('<|vision_end|>')]] : family === 'pixtral' ? [[], [id('[IMG_END]')]] : [[], []];
      const start = pre.length + open.length;
      const inputs: TextPromptF64['inputs'] = [...pre, ...open, ...rows, ...close, ...post];
      const n = inputs.length;
      expect(gen.images!.blocks[0]!.start).toBe(start);
      expect(gen.images!.promptTokens).toBe(n);
      let pos: Int32Array;
      let next = n; // position of the first generated token
      if (family === 'qwen') {
        // Qwen2.5-VL: 3×2 tokens (24×16 px, 8 px per token) at text position `start`; text after from start + max(rows, cols).
        const gr = H / 8, gc = W / 8;
        expect(gr * gc).toBe(ref.nTok);
        pos = new Int32Array(4 * n);
        let p = 0;
        for (let i = 0; i < n; i++) {
          if (i >= start && i < start + ref.nTok) {
            const y = Math.floor((i - start) / gc), x = (i - start) % gc;
            [pos[i], pos[n + i], pos[2 * n + i]] = [start, start + y, start + x];
            if (i === start + ref.nTok - 1) p = start + Math.max(gr, gc);
          } else {
            pos[i] = pos[n + i] = pos[2 * n + i] = p++;
          }
        }
        next = p;
      } else {
        pos = linearPos(n, false);
      }
      const bidirectional: [number, number][] = family === 'gemma3' ? [[start, start + ref.nTok]] : [];
      const model = await openGguf(files.model);
      const lp0 = logSoftmax(await referenceTextLogits(model, { inputs, pos, bidirectional }));
      const d0 = lpDiff(lps[0]!, lp0);
      // The text side alone: the reference text model fed the engine's own embeddings.
      const engineRows = rows.map((_, r) => enc.embeddings.subarray(r * ref.nOut, (r + 1) * ref.nOut));
      const dText = lpDiff(lps[0]!, logSoftmax(await referenceTextLogits(model, { inputs: inputs.map((v, i) => (i >= start && i < start + ref.nTok ? engineRows[i - start]! : v)), pos, bidirectional })));

      // Decode after the image (qwen): the first token at `next`.
      let d1 = 0, d1Wrong = 0;
      if (family === 'qwen') {
        const second = async (at: number) => {
          const pos1 = new Int32Array(4 * (n + 1));
          for (let k = 0; k < 3; k++) {
            pos1.set(pos.subarray(k * n, (k + 1) * n), k * (n + 1));
            pos1[k * (n + 1) + n] = at;
          }
          return lpDiff(lps[1]!, logSoftmax(await referenceTextLogits(model, { inputs: [...inputs, toks[0]!], pos: pos1 })));
        };
        d1 = await second(next);
        d1Wrong = await second(n); // control: the generated token at its KV slot
      }

      // Controls: the same comparison with a wrong layout or wrong positions.
      let wrong: TextPromptF64;
      if (family === 'qwen') wrong = { inputs, pos: linearPos(n, true) };
      else if (family === 'gemma3') wrong = { inputs, pos }; // image rows causal
      else if (family === 'pixtral') wrong = { inputs: inputs.filter((_, i) => i !== start + W / 8), pos: linearPos(n - 1, false) }; // no [IMG_BREAK] row
      else {
        const side = Math.sqrt(ref.nTok);
        const transposed = rows.map((_, r) => rows[(r % side) * side + Math.floor(r / side)]!);
        wrong = { inputs: [...pre, ...transposed, ...post], pos };
      }
      const dWrong = lpDiff(lps[0]!, logSoftmax(await referenceTextLogits(model, { bidirectional: [], ...wrong })));
      console.log(`${family}: embeddings min cosine ${ed.minCos.toFixed(7)}, rel ${ed.rel.toExponential(2)}; first-token max |Δ logprob| ${d0.toExponential(2)} (text side alone ${dText.toExponential(2)})${family === 'qwen' ? `, second ${d1.toExponential(2)} (at its KV slot: ${d1Wrong.toExponential(2)})` : ''}; wrong layout/positions ${dWrong.toExponential(2)}`);
      expect(ed.minCos).toBeGreaterThanOrEqual(TOL.cos);
      expect(ed.rel).toBeLessThanOrEqual(TOL.rel);
      expect(dText).toBeLessThanOrEqual(family === 'gemma3' ? TOL.textGemma : TOL.text);
      expect(d0).toBeLessThanOrEqual(TOL.logprob);
      expect(d1).toBeLessThanOrEqual(TOL.logprob);
      expect(dWrong).toBeGreaterThan(TOL.control);
      if (family === 'qwen') expect(d1Wrong).toBeGreaterThan(TOL.control);
    } finally {
      await e.close();
    }
  }, 120_000);
});

describe('qwen: an image in several blocks (maxTiles 4: overview + 1×2 grid), each with its own M-RoPE grid', () => {
  it('first-token log-probabilities match the float64 reference laid out block by block (3e-3); 1D positions do not', async () => {
    const files = await writeQwenVision(DIR);
    const W = 64, H = 32;
    const png = buildPng(W, H, 2, pattern(W, H));
    const e = await createEngine({ model: files.model, projector: files.projector, threads: 2, backend: 'wasm', tune: false, numCtx: 256, kvType: 'f32', kvPageSize: 16, numParallel: 2, imageCache: { maxTiles: 4 } });
    try {
      const gen = e.generate({ prompt: 'hello <__media__> world', images: [png], options: { temperature: 0, num_predict: 1 }, logprobs: TOP, session: 'blocks' });
      const lps: TokenLogprob[] = [];
      for await (const c of gen) if (c.logprobs) lps.push(...c.logprobs);
      // The blocks' pixels from the engine's cache entry (preprocessing is not under test here), encoded in float64.
      const enc = await e.vision!.cache.encode(png, 'blocks');
      const proj = await openGguf(files.projector);
      const tk = e.tokenizer;
      const id = (s: string) => Array.from({ length: tk.vocabSize }, (_, i) => i).find((i) => tk.tokenText(i) === s)!;
      const text = (s: string) => tk.encode(s, { addSpecial: false, parseSpecial: true });
      const inputs: TextPromptF64['inputs'] = [...tk.encode('hello ', { addSpecial: true, parseSpecial: true })];
      const pos: number[][] = [[], [], []];
      let p = 0;
      const pushText = (ids: number[]) => {
        for (const t of ids) {
          inputs.push(t);
          for (let k = 0; k < 3; k++) pos[k]!.push(p);
          p++;
        }
      };
      for (let k = 0; k < 3; k++) for (let i = 0; i < inputs.length; i++) pos[k]!.push(i);
      p = inputs.length;
      const labels = ['<overview>', '<block row=1 col=1>', '<block row=1 col=2>'];
      expect(gen.images!.blocks.map((b) => b.label)).toEqual(labels);
      let px = 0;
      for (let b = 0; b < enc.blocks.length; b++) {
        const blk = enc.blocks[b]!;
        const chw = enc.pixels.subarray(px, px + 3 * blk.width * blk.height);
        px += chw.length;
        const ref = await referenceRopeEncode(proj, chw, blk.width, blk.height);
        const rows = blk.height / 8, cols = blk.width / 8;
        expect(ref.nTok).toBe(rows * cols);
        pushText(text(labels[b]!));
        pushText([id('<|vision_start|>')]);
        for (let r = 0; r < ref.nTok; r++) {
          inputs.push(ref.out.subarray(r * ref.nOut, (r + 1) * ref.nOut));
          pos[0]!.push(p);
          pos[1]!.push(p + Math.floor(r / cols));
          pos[2]!.push(p + (r % cols));
        }
        p += Math.max(rows, cols);
        pushText([id('<|vision_end|>')]);
        if (b !== 1) pushText(text('\n')); // after the overview and after the last block of the row
      }
      pushText(text(' world'));
      const n = inputs.length;
      expect(gen.images!.promptTokens).toBe(n);
      const mpos = new Int32Array(4 * n);
      for (let k = 0; k < 3; k++) mpos.set(pos[k]!, k * n);
      const model = await openGguf(files.model);
      const d = lpDiff(lps[0]!, logSoftmax(await referenceTextLogits(model, { inputs, pos: mpos })));
      const dWrong = lpDiff(lps[0]!, logSoftmax(await referenceTextLogits(model, { inputs, pos: linearPos(n, true) })));
      console.log(`qwen, 3 blocks (${enc.blocks.map((b) => `${b.width}×${b.height}`).join(', ')}): first-token max |Δ logprob| ${d.toExponential(2)}; 1D positions ${dWrong.toExponential(2)}`);
      expect(d).toBeLessThanOrEqual(TOL.logprob);
      expect(dWrong).toBeGreaterThan(TOL.control);
    } finally {
      await e.close();
    }
  }, 120_000);
});
