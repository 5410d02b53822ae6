/**
 * The backend interface: the one thing a model is written against.
 *
 * A backend owns memory (weights, activations, KV pages) and records ops into a command list that
 * `compute()` executes. Models record the same ops on every backend (wasm, webgpu, native); only the
 * backend knows how buffers are laid out and how work is split across threads or a GPU.
 *
 * Conventions (as in ggml):
 * - Matrices are row-major with the innermost dimension last. A weight `W` of GGUF dims `[n_in, n_out]`
 *   holds `n_out` rows of `n_in` values; `matmul` computes `out[t][r] = Σ_i W[r][i] · x[t][i]`.
 * - Activations are f32 `[rows][cols]`. Ops take explicit row counts so one buffer sized for the
 *   largest batch serves every batch size without reallocation.
 * - Ops are recorded, not executed: `compute()` runs everything recorded since the last `compute()`.
 */
import type { GgmlType } from '../gguf/types.ts';

/** An opaque handle to memory owned by a backend. */
export interface Tensor {
  readonly type: GgmlType;
  /** ggml order: dims[0] is contiguous. */
  readonly dims: readonly number[];
  readonly byteSize: number;
}

/**
 * RoPE modes (wasm/ABI.md, op 4). NORMAL/NEOX take one position per token; the multi-position modes take
 * `pos` i32 `[n_stream][nTok]` (stream k of token t at `k·nTok + t`, ggml's `ggml_rope_multi` layout):
 * - MROPE (ggml's, Qwen2-VL text): 4 streams (t, h, w, e) chosen per pair by `sections`;
 * - VISION (ggml's, Qwen2-VL/2.5-VL ViT): 4 streams, `nRot = headDim/2`, each section restarts its frequencies;
 * - ROPE_2D (Pixtral, llama.cpp's build_rope_2d): 2 streams (row, col), half the rotated dims each.
 */
export const RopeMode = { NORMAL: 0, NEOX: 2, MROPE: 8, VISION: 24, ROPE_2D: 64 } as const;
export type RopeMode = (typeof RopeMode)[keyof typeof RopeMode];

/** Position streams a RoPE mode reads per token (the length of `pos` is this times nTok). */
export function ropeStreams(mode: RopeMode): number {
  return mode === RopeMode.MROPE || mode === RopeMode.VISION ? 4 : mode === RopeMode.ROPE_2D ? 2 : 1;
}

export interface RopeParams {
  nHead: number;
  headDim: number;
  nRot: number;
  mode: RopeMode;
  freqBase: number;
  freqScale: number;
  /** Optional per-dimension divisors `[n_rot/2]` (Llama 3.1 `rope_freqs.weight`). */
  freqFactors: Tensor | null;
  /** MROPE/VISION: rotated pairs per stream (t, h, w, e), e.g. Qwen2-VL text [16, 24, 24, 0]. */
  sections?: readonly [number, number, number, number];
}

/** One layer's view of a sequence's KV pages: page address tables owned by the KV cache. */
export interface KvLayerView {
  readonly kPages: Tensor; // u32 [n_pages] page handles
  readonly vPages: Tensor; // u32 [n_pages]
  readonly pageSize: number; // tokens per page
  readonly kvType: GgmlType; // K's type: F16, F32, Q8_0 or Q4_0 (block types: rows of a multiple of 32 values)
  /** V's type when it differs from K's (omitted: kvType). */
  readonly vType?: GgmlType;
}

export interface AttentionParams {
  nHead: number;
  nHeadKv: number;
  headDim: number;
  scale: number;
  /** Sliding window: a query at position p sees keys at positions > p − window (0 or omitted: all). */
  window?: number;
  /** Soft cap of the scores: s = softcap·tanh(scale·q·k / softcap) (0 or omitted: none; Gemma 2). */
  softcap?: number;
}

export interface Backend {
  readonly name: string;
  readonly nThreads: number;

  /** Whether `matmul`/`getRows` accept weights of this type (ask, don't assume). */
  supportsWeightType(type: GgmlType): boolean;

  // ---- memory (load time only) ----
  /** Allocate a tensor and let `fill` write its bytes straight into backend memory (e.g. from a file). */
  weight(type: GgmlType, dims: number[], fill: (dest: Uint8Array) => Promise<void>): Promise<Tensor>;
  /** Allocate an uninitialised buffer. `dims` in ggml order. */
  buffer(type: GgmlType, dims: number[]): Tensor;
  /** A tensor that aliases `rows` rows of `t` starting at `row` (no copy). Call at load time. */
  rows(t: Tensor, row: number, rows: number): Tensor;
  /** Host-visible typed views (valid until the next allocation). */
  f32(t: Tensor): Float32Array;
  i32(t: Tensor): Int32Array;
  u32(t: Tensor): Uint32Array;
  /** Bytes of backend memory in use. */
  bytesAllocated(): number;

  // ---- ops (recorded; executed by compute) ----
  /** out[t][r] = Σ_i W[r][i]·x[t][i] for t < nTok. */
  matmul(out: Tensor, w: Tensor, x: Tensor, nTok: number): void;
  /** out[i] = dequant(table[ids[i]]) for i < n. */
  getRows(out: Tensor, table: Tensor, ids: Tensor, n: number): void;
  /** out[r] = x[r] / sqrt(mean(x[r]²) + eps) · w, rows of `w.dims[0]` or `n` values. */
  rmsNorm(out: Tensor, x: Tensor, w: Tensor | null, eps: number, n: number, nRows: number): void;
  /** In place over x `[nTok][nHead][headDim]`, positions `pos` i32 `[ropeStreams(p.mode)][nTok]`. */
  rope(x: Tensor, pos: Tensor, nTok: number, p: RopeParams): void;
  softmax(out: Tensor, x: Tensor, n: number, nRows: number, scale: number): void;
  swiglu(out: Tensor, gate: Tensor, up: Tensor, n: number): void;
  silu(out: Tensor, x: Tensor, n: number): void;
  gelu(out: Tensor, x: Tensor, n: number): void;
  /** LayerNorm: out[r] = (x[r] − mean)/sqrt(var + eps) · w + b, rows of n values (w, b optional; BERT). */
  layerNorm(out: Tensor, x: Tensor, w: Tensor | null, b: Tensor | null, eps: number, n: number, nRows: number): void;
  /** out = gelu(gate) · up (GEGLU, Gemma's FFN). */
  geglu(out: Tensor, gate: Tensor, up: Tensor, n: number): void;
  /** out = cap · tanh(x / cap) (Gemma 2's final logits). */
  softcap(out: Tensor, x: Tensor, cap: number, n: number): void;
  /** out[i] = a[i] + b[i % bLen] for i < n; `bLen` omitted or 0: b has n values (else e.g. a bias added to every row). */
  add(out: Tensor, a: Tensor, b: Tensor, n: number, bLen?: number): void;
  /** out[i] = a[i] · b[i % bLen], as `add`. */
  mul(out: Tensor, a: Tensor, b: Tensor, n: number, bLen?: number): void;
  scale(out: Tensor, x: Tensor, s: number, n: number): void;
  /** Write K or V rows `src [nTok][rowLen]` at positions `pos` into the pages of `pages`. */
  kvStore(src: Tensor, nTok: number, rowLen: number, pos: Tensor, pages: Tensor, pageSize: number, kvType: GgmlType): void;
  /** Causal GQA attention of q `[nTok][nHead][headDim]` over cache positions `[0, nKv)`. */
  attention(out: Tensor, q: Tensor, qPos: Tensor, nTok: number, nKv: number, kv: KvLayerView, p: AttentionParams): void;

  /** Execute everything recorded. May return a promise (GPU backends); the WASM backend is synchronous. */
  compute(): void | Promise<void>;

  /** Reserve scratch for the worst case: `maxTokens` rows per batch, rows up to `maxRowLen` values, attention over up to `maxKv` positions. Call at load; models sharing a backend (a vision encoder next to a text model) each call it, and the scratch only grows. */
  reserve(opts: { maxTokens: number; maxRowLen: number; maxKv: number }): void;

  /** Allocate KV page memory: `nPages` pages of `bytesPerPage` bytes; returns the page handles. */
  allocPages(nPages: number, bytesPerPage: number): number[];
  /**
   * Optional: host-visible bytes of a page (valid until the next allocation), for copying pages between tiers.
   * `layer`: the `group` index the page was allocated under (a backend that places pages by layer needs it).
   */
  pageView?(page: number, bytes: number, layer?: number): Uint8Array;
  /** Optional, for backends without pageView (webgpu): record a copy of the first `bytes` bytes of page `from` into page `to`, run in order at the next compute. */
  copyPageBytes?(from: number, to: number, bytes: number): void;

  /**
   * Optional placement hint: the weights, KV pages and page tables allocated after this call belong to layer
   * `index`. A backend that spreads a model over several memories (ShardedBackend) places them by it; others
   * ignore it. Default: no-op.
   */
  group?(index: number): void;

  close(): Promise<void>;
}
