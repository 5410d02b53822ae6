/// <reference types="@webgpu/types" />
/**
 * The WebGPU backend: the Backend interface (../backend.ts) over WGSL kernels (kernels/*.wgsl.ts).
 *
 * Ops are recorded as dispatches (a pipeline, a 256-byte parameter slot, the weight or page buffers to bind)
 * and `compute()` encodes them into one compute pass per run of dispatches (KV page copies end a pass), after
 * uploading the host shadows of the activation buffers the host has views of (tokens, positions, page tables),
 * then downloads the shadows of those an op wrote (logits) and resolves once they are on the host.
 */
import type { AttentionParams, Backend, KvLayerView, RopeParams, Tensor } from '../backend.ts';
import { GgmlType } from '../../gguf/types.ts';
import { TesseraError } from '../../errors.ts';
import { acquireDevice, type DeviceOptions, type GpuContext } from './device.ts';
import { ActRoot, ActTensor, align, byteSizeOf, type PagePool, rowsPerSlice, WebGpuLimitError, WeightTensor, type WeightSlice } from './buffers.ts';
import { Pipelines, type LayoutKind } from './pipelines.ts';
import type { ShaderCaps } from './kernels/common.wgsl.ts';
import { GPU_WEIGHT_TYPES } from './kernels/quant.wgsl.ts';
import { ActQuant, actQuantShader } from './kernels/actquant.wgsl.ts';
import { getRowsShader, matmulShader, matmulThreadShader } from './kernels/matmul.wgsl.ts';
import { layerNormShader, rmsNormShader, softmaxShader } from './kernels/norm.wgsl.ts';
import { elementwiseShader, EwOp } from './kernels/elementwise.wgsl.ts';
import { ropeShader } from './kernels/rope.wgsl.ts';
import { attentionShader, kvRowBytesOf, kvStoreShader, KV_TYPES } from './kernels/kv.wgsl.ts';

export class WebGpuError extends TesseraError {
  constructor(message: string) {
    super('webgpu_error', message);
  }
}

export interface WebGpuBackendOptions extends DeviceOptions {
  /** Use this device context instead of acquiring one. */
  context?: GpuContext;
  /** Largest weight slice in bytes (default and cap: the binding limit); tests set it small to exercise slicing. */
  weightSliceBytes?: number;
  /**
   * Round the activations of each MATMUL as llama.cpp's CPU path does for the weight type (8-bit blocks for the
   * quantized types, f16/bf16 for F16/BF16) before the f32 dot (default true: logits then follow llama.cpp's; false:
   * plain f32 activations, closer to the float64 model but ~1e-2 off llama.cpp's log-probs).
   */
  llamaCppActivations?: boolean;
  /** MATMUL kernel (default: 'thread' on software adapters, 'workgroup' otherwise). */
  matmul?: 'thread' | 'workgroup';
}

/** The activation rounding ggml's CPU matmul applies per weight type (its vec_dot_type), emulated by default. */
const ACT_QUANT: Partial<Record<GgmlType, number>> = {
  [GgmlType.F16]: ActQuant.F16, [GgmlType.BF16]: ActQuant.BF16, [GgmlType.Q8_0]: ActQuant.Q8_0, [GgmlType.Q4_0]: ActQuant.Q8_0,
  [GgmlType.Q4_1]: ActQuant.Q8_0, [GgmlType.Q5_0]: ActQuant.Q8_0, [GgmlType.Q5_1]: ActQuant.Q8_0,
  [GgmlType.Q4_K]: ActQuant.Q8_K, [GgmlType.Q5_K]: ActQuant.Q8_K, [GgmlType.Q6_K]: ActQuant.Q8_K,
};

const SLOT = 256; // bytes per parameter slot (minUniformBufferOffsetAlignment)
const NONE = 0xffffffff;
const MAX_WG = 65535;

type Dispatch = { pipe: GPUComputePipeline; layout: LayoutKind; w: GPUBuffer | null; wId: number; v: GPUBuffer | null; vId: number; slot: number; x: number; y: number };
type Copy = { copy: true; src: GPUBuffer; srcOff: number; dst: GPUBuffer; dstOff: number; size: number };
type Rec = Dispatch | Copy;

const f32bits = (() => {
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  return (x: number) => ((f[0] = x), u[0]);
})();

const act = (t: Tensor, what: string): ActTensor => {
  if (!(t instanceof ActTensor)) throw new WebGpuError(`webgpu: ${what} must be a buffer() tensor`);
  return t;
};
const wt = (t: Tensor, what: string): WeightTensor => {
  if (!(t instanceof WeightTensor)) throw new WebGpuError(`webgpu: ${what} must be a weight() tensor`);
  return t;
};

export class WebGpuBackend implements Backend {
  readonly name = 'webgpu';
  readonly nThreads = 1;
  private readonly device: GPUDevice;
  private readonly caps: ShaderCaps;
  private readonly pipes: Pipelines;
  private readonly maxBinding: number;
  private readonly sliceBytes: number;
  private nextId = 1;
  // activation arena
  private arenaBytes = 0;
  private arena: GPUBuffer | null = null;
  private arenaSize = 0;
  private readonly hostRoots: ActRoot[] = [];
  // weights and pages
  private weightBytes = 0;
  private readonly buffers: GPUBuffer[] = [];
  private readonly pools: PagePool[] = [null as unknown as PagePool]; // pool ids start at 1
  private dummy: GPUBuffer;
  // recording
  private recs: Rec[] = [];
  private readonly recRoots = new Set<ActRoot>(); // roots written by the recorded ops
  private params = new Uint32Array((64 * SLOT) / 4);
  private nSlots = 0;
  private paramBuf: GPUBuffer | null = null;
  private bindGroups = new Map<string, GPUBindGroup>();
  private staging: GPUBuffer | null = null;
  private copyTmp: GPUBuffer | null = null;

  private readonly ownsDevice: boolean;
  /** MATMUL kernel: a thread per (row, 4 tokens) (CPU drivers) or a workgroup per row (GPUs). */
  readonly threadMatmul: boolean;
  private readonly actQuant: boolean;
  private actScratch: ActTensor | null = null; // f32, the rounded activations of the MATMUL being recorded

  private constructor(readonly ctx: GpuContext, opts: WebGpuBackendOptions) {
    this.ownsDevice = !opts.context;
    this.threadMatmul = opts.matmul ? opts.matmul === 'thread' : ctx.software;
    this.actQuant = opts.llamaCppActivations ?? true;
    this.device = ctx.device;
    this.caps = { f16: ctx.caps.f16 };
    this.pipes = new Pipelines(this.device);
    this.maxBinding = Math.min(ctx.caps.maxStorageBufferBindingSize, ctx.caps.maxBufferSize);
    this.sliceBytes = Math.min(this.maxBinding, opts.weightSliceBytes ?? Infinity);
    this.dummy = this.device.createBuffer({ size: 16, usage: GPUBufferUsage.STORAGE });
  }

  static async create(opts: WebGpuBackendOptions = {}): Promise<WebGpuBackend> {
    return new WebGpuBackend(opts.context ?? (await acquireDevice(opts)), opts);
  }

  /** Whether the shaders use `shader-f16` (else the core-WGSL pack/unpack variants). */
  get usesF16(): boolean {
    return this.caps.f16;
  }

  supportsWeightType(type: GgmlType): boolean {
    return (GPU_WEIGHT_TYPES as readonly GgmlType[]).includes(type);
  }

  // ---- memory ----
  async weight(type: GgmlType, dims: number[], fill: (dest: Uint8Array) => Promise<void>): Promise<Tensor> {
    const size = byteSizeOf(type, dims);
    const nRows = dims.length > 1 ? dims[dims.length - 1] : 1;
    const rowBytes = size / nRows;
    const host = new Uint8Array(align(size, 4));
    await fill(host.subarray(0, size));
    const per = rowsPerSlice(rowBytes, nRows, this.sliceBytes);
    const slices: WeightSlice[] = [];
    for (let r = 0; r < nRows; r += per) {
      const rows = Math.min(per, nRows - r);
      const bytes = align(rows * rowBytes, 4);
      const buf = this.device.createBuffer({ size: Math.max(16, bytes), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
      const start = r * rowBytes;
      const chunk = new Uint8Array(bytes);
      chunk.set(host.subarray(start, Math.min(start + bytes, size)));
      this.device.queue.writeBuffer(buf, 0, chunk);
      this.buffers.push(buf);
      slices.push({ buf, id: this.nextId++, row0: r, rows, off: 0 });
      this.weightBytes += bytes;
    }
    return new WeightTensor(type, dims, size, rowBytes, slices);
  }

  buffer(type: GgmlType, dims: number[]): Tensor {
    const size = byteSizeOf(type, dims);
    const root = new ActRoot(this.arenaBytes, size);
    this.arenaBytes = align(this.arenaBytes + size, 16);
    if (this.arenaBytes > this.maxBinding) throw new WebGpuLimitError(`webgpu: activations need ${this.arenaBytes} bytes, over the binding limit ${this.maxBinding}`);
    return new ActTensor(type, dims, size, root, 0);
  }

  rows(t: Tensor, row: number, rows: number): Tensor {
    if (t instanceof WeightTensor) return t.rowsView(row, rows);
    const a = act(t, 'rows()');
    const rowBytes = a.byteSize / a.dims[a.dims.length - 1];
    return new ActTensor(a.type, [...a.dims.slice(0, -1), rows], rowBytes * rows, a.root, a.rel + row * rowBytes);
  }

  private shadow(t: Tensor): ArrayBuffer {
    const a = act(t, 'a host view');
    if (!a.root.shadow) {
      a.root.shadow = new ArrayBuffer(align(a.root.bytes, 4));
      this.hostRoots.push(a.root);
    }
    return a.root.shadow;
  }
  f32(t: Tensor): Float32Array {
    return new Float32Array(this.shadow(t), (t as ActTensor).rel, t.byteSize >> 2);
  }
  i32(t: Tensor): Int32Array {
    return new Int32Array(this.shadow(t), (t as ActTensor).rel, t.byteSize >> 2);
  }
  u32(t: Tensor): Uint32Array {
    return new Uint32Array(this.shadow(t), (t as ActTensor).rel, t.byteSize >> 2);
  }

  bytesAllocated(): number {
    return this.arenaBytes + this.weightBytes + this.pools.reduce((s, p) => s + (p ? p.nPages * p.pageBytes : 0), 0);
  }

  reserve(opts: { maxTokens: number; maxRowLen: number; maxKv: number }): void {
    if (this.actQuant) this.actScratch = act(this.buffer(GgmlType.F32, [opts.maxTokens * opts.maxRowLen]), 'scratch');
    this.ensureArena();
  }

  allocPages(nPages: number, bytesPerPage: number): number[] {
    const id = this.pools.length;
    if (id >= 1 << 12 || nPages >= 1 << 20) throw new WebGpuLimitError(`webgpu: ${id} page pools of ${nPages} pages exceed the page handle's fields (12 + 20 bits)`);
    const size = align(nPages * bytesPerPage, 4);
    if (size > this.maxBinding) throw new WebGpuLimitError(`webgpu: a page pool of ${size} bytes exceeds the binding limit ${this.maxBinding}`);
    const buf = this.device.createBuffer({ size: Math.max(16, size), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
    this.buffers.push(buf);
    this.pools.push({ buf, id: this.nextId++, pageBytes: bytesPerPage, nPages });
    return Array.from({ length: nPages }, (_, i) => ((id << 20) | i) >>> 0);
  }

  /** Records a copy of the first `bytes` bytes of page `from` into page `to` (run in order at the next compute). */
  copyPageBytes(from: number, to: number, bytes: number): void {
    const pf = this.pool(from);
    const pt = this.pool(to);
    const size = Math.min(align(bytes, 4), pt.pageBytes - (pt.pageBytes % 4));
    if (size <= 0) return;
    if (!this.copyTmp || this.copyTmp.size < size) {
      this.copyTmp?.destroy();
      this.copyTmp = this.device.createBuffer({ size: align(size, 256), usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    }
    const tmp = this.copyTmp;
    this.recs.push({ copy: true, src: pf.buf, srcOff: (from & 0xfffff) * pf.pageBytes, dst: tmp, dstOff: 0, size });
    this.recs.push({ copy: true, src: tmp, srcOff: 0, dst: pt.buf, dstOff: (to & 0xfffff) * pt.pageBytes, size });
  }

  private pool(handle: number): PagePool {
    const p = this.pools[handle >>> 20];
    if (!p) throw new WebGpuError(`webgpu: ${handle} is not a page handle`);
    return p;
  }

  /** The pool of the pages a table refers to (its first non-zero entry, read from the host shadow). */
  private poolOfTable(pages: Tensor): PagePool {
    const a = act(pages, 'a page table');
    if (!a.root.shadow) throw new WebGpuError('webgpu: page tables must be written through u32() views');
    const tab = this.u32(a);
    for (let i = 0; i < tab.length; i++) if (tab[i] !== 0) return this.pool(tab[i]);
    throw new WebGpuError('webgpu: empty page table');
  }

  // ---- recording ----
  private slot(vals: number[]): number {
    const s = this.nSlots++;
    if ((s + 1) * (SLOT / 4) > this.params.length) {
      const p = new Uint32Array(this.params.length * 2);
      p.set(this.params);
      this.params = p;
    }
    this.params.fill(0, s * (SLOT / 4), s * (SLOT / 4) + 32);
    this.params.set(vals.map((v) => v >>> 0), s * (SLOT / 4));
    return s;
  }

  private dispatch(key: string, layout: LayoutKind, src: () => string, params: number[], x: number, y = 1, w: { buf: GPUBuffer; id: number } | null = null, v: { buf: GPUBuffer; id: number } | null = null): void {
    const { pipe } = this.pipes.get(key, layout, src);
    const slot = this.slot(params);
    this.recs.push({ pipe, layout, w: w?.buf ?? null, wId: w?.id ?? 0, v: v?.buf ?? null, vId: v?.id ?? 0, slot, x: Math.max(1, Math.min(MAX_WG, x)), y: Math.max(1, y) });
  }

  /** Marks `bytes` bytes of `t` (default: all of it) as written by the op being recorded. */
  private wrote(t: ActTensor, bytes = t.byteSize): void {
    t.root.mark(t.rel, t.rel + bytes);
    this.recRoots.add(t.root);
  }

  matmul(out: Tensor, w: Tensor, x: Tensor, nTok: number): void {
    const W = wt(w, 'matmul weight');
    const o = act(out, 'matmul out');
    const xa = act(x, 'matmul x');
    const nIn = W.dims[0];
    const c = this.caps;
    let xw = xa.word;
    const mode = this.actQuant ? (ACT_QUANT[W.type] ?? 0) : 0;
    if (mode) {
      if (!this.actScratch || this.actScratch.byteSize < nIn * nTok * 4) this.actScratch = act(this.buffer(GgmlType.F32, [nIn * nTok]), 'scratch');
      const units = mode === ActQuant.Q8_0 ? (nIn * nTok) / 32 : mode === ActQuant.Q8_K ? (nIn * nTok) / 256 : nIn * nTok;
      const groups = Math.ceil(units / 64);
      const gx = Math.min(groups, MAX_WG);
      this.dispatch(`actq${c.f16}`, 'w', () => actQuantShader(c), [xa.word, this.actScratch.word, nIn, nTok, mode], gx, Math.ceil(groups / gx));
      xw = this.actScratch.word;
    }
    for (const s of W.slices) {
      const params = [s.off, W.rowBytes, xw, o.word, nIn, s.rows, nTok, W.nRows, s.row0];
      if (this.threadMatmul) this.dispatch(`matmulT${W.type}${c.f16}`, 'w', () => matmulThreadShader(c, W.type), params, Math.ceil(s.rows / 64), Math.ceil(nTok / 4), s);
      else this.dispatch(`matmul${W.type}${c.f16}`, 'w', () => matmulShader(c, W.type), params, s.rows, Math.ceil(nTok / 8), s);
    }
    this.wrote(o, nTok * W.nRows * 4);
  }

  getRows(out: Tensor, table: Tensor, ids: Tensor, n: number): void {
    const T = wt(table, 'getRows table');
    const o = act(out, 'getRows out');
    const c = this.caps;
    for (const s of T.slices) {
      this.dispatch(`getrows${T.type}${c.f16}`, 'w', () => getRowsShader(c, T.type), [s.off, T.rowBytes, act(ids, 'ids').word, o.word, T.dims[0], n, s.row0, s.rows], n, 1, s);
    }
    this.wrote(o, n * T.dims[0] * 4);
  }

  rmsNorm(out: Tensor, x: Tensor, w: Tensor | null, eps: number, n: number, nRows: number): void {
    const o = act(out, 'rmsNorm out');
    const ws = w ? wt(w, 'rmsNorm weight').only : null;
    this.dispatch(`rmsnorm${this.caps.f16}`, 'w', () => rmsNormShader(this.caps), [act(x, 'x').word, ws ? ws.off : NONE, o.word, n, nRows, f32bits(eps)], nRows, 1, ws);
    this.wrote(o);
  }

  layerNorm(out: Tensor, x: Tensor, w: Tensor | null, b: Tensor | null, eps: number, n: number, nRows: number): void {
    const o = act(out, 'layerNorm out');
    const ws = w ? wt(w, 'layerNorm weight').only : null;
    this.dispatch(`layernorm${this.caps.f16}`, 'w', () => layerNormShader(this.caps), [act(x, 'x').word, ws ? ws.off : NONE, NONE, o.word, n, nRows, f32bits(eps)], nRows, 1, ws);
    this.wrote(o);
    if (b) this.add(out, out, b, n * nRows, n);
  }

  softmax(out: Tensor, x: Tensor, n: number, nRows: number, scale: number): void {
    const o = act(out, 'softmax out');
    this.dispatch(`softmax${this.caps.f16}`, 'w', () => softmaxShader(this.caps), [act(x, 'x').word, o.word, n, nRows, f32bits(scale)], nRows);
    this.wrote(o);
  }

  private ew(op: number, out: Tensor, a: Tensor, b: Tensor | null, n: number, nB: number, s: number): void {
    const o = act(out, 'out');
    let bOff = 0;
    let bw = 0;
    let wb: WeightSlice | null = null;
    if (b instanceof WeightTensor) {
      wb = b.only;
      bOff = wb.off;
      bw = 1;
    } else if (b) bOff = act(b, 'b').word;
    const groups = Math.ceil(n / 64);
    const x = Math.min(groups, MAX_WG);
    this.dispatch(`ew${this.caps.f16}`, 'w', () => elementwiseShader(this.caps), [op, act(a, 'a').word, bOff, o.word, n, nB, bw, f32bits(s)], x, Math.min(MAX_WG, Math.ceil(groups / x)), wb);
    this.wrote(o, n * 4);
  }
  swiglu(out: Tensor, gate: Tensor, up: Tensor, n: number): void {
    this.ew(EwOp.SWIGLU, out, gate, up, n, 0, 0);
  }
  silu(out: Tensor, x: Tensor, n: number): void {
    this.ew(EwOp.SILU, out, x, null, n, 0, 0);
  }
  gelu(out: Tensor, x: Tensor, n: number): void {
    this.ew(EwOp.GELU, out, x, null, n, 0, 0);
  }
  geglu(out: Tensor, gate: Tensor, up: Tensor, n: number): void {
    this.ew(EwOp.GEGLU, out, gate, up, n, 0, 0);
  }
  softcap(out: Tensor, x: Tensor, cap: number, n: number): void {
    this.ew(EwOp.SOFTCAP, out, x, null, n, 0, cap);
  }
  add(out: Tensor, a: Tensor, b: Tensor, n: number, bLen = 0): void {
    this.ew(EwOp.ADD, out, a, b, n, bLen, 0);
  }
  mul(out: Tensor, a: Tensor, b: Tensor, n: number, bLen = 0): void {
    this.ew(EwOp.MUL, out, a, b, n, bLen, 0);
  }
  scale(out: Tensor, x: Tensor, s: number, n: number): void {
    this.ew(EwOp.SCALE, out, x, null, n, 0, s);
  }

  rope(x: Tensor, pos: Tensor, nTok: number, p: RopeParams): void {
    if (p.mode !== 0 && p.mode !== 2) throw new WebGpuError(`webgpu: RoPE mode ${p.mode} (multi-position) is not implemented`);
    const xa = act(x, 'rope x');
    const ff = p.freqFactors ? wt(p.freqFactors, 'freq factors').only : null;
    const thetaScale = Math.fround(Math.pow(p.freqBase, -2 / p.nRot));
    const groups = Math.ceil((nTok * p.nHead * (p.nRot / 2)) / 64);
    const gx = Math.min(groups, MAX_WG);
    this.dispatch(
      `rope${this.caps.f16}`, 'w', () => ropeShader(this.caps),
      [xa.word, act(pos, 'pos').word, nTok, p.nHead, p.headDim, p.nRot, p.mode, f32bits(thetaScale), f32bits(p.freqScale), ff ? ff.off : NONE],
      gx, Math.ceil(groups / gx), ff,
    );
    this.wrote(xa);
  }

  kvStore(src: Tensor, nTok: number, rowLen: number, pos: Tensor, pages: Tensor, pageSize: number, kvType: GgmlType): void {
    const pool = this.poolOfTable(pages);
    const rowBytes = kvRowBytesOf(kvType, rowLen);
    if (rowBytes % 4 !== 0) throw new WebGpuError(`webgpu: KV rows of ${rowLen} ${GgmlType[kvType]} values are not a whole number of words`);
    const units = kvType === GgmlType.F32 ? nTok * rowLen : kvType === GgmlType.F16 ? (nTok * rowLen) / 2 : nTok;
    const groups = Math.ceil(units / 64);
    const gx = Math.min(groups, MAX_WG);
    this.dispatch(
      `kvstore${kvType}${this.caps.f16}`, 'wrw', () => kvStoreShader(this.caps, kvType),
      [act(src, 'src').word, nTok, rowLen, act(pos, 'pos').word, act(pages, 'pages').word, pageSize, pool.pageBytes, rowBytes],
      gx, Math.ceil(groups / gx), pool,
    );
  }

  attention(out: Tensor, q: Tensor, qPos: Tensor, nTok: number, nKv: number, kv: KvLayerView, p: AttentionParams): void {
    const kt = kv.kvType;
    const vt = kv.vType ?? kv.kvType;
    if (!(KV_TYPES as readonly GgmlType[]).includes(kt) || !(KV_TYPES as readonly GgmlType[]).includes(vt)) throw new WebGpuError(`webgpu: KV types ${GgmlType[kt]}/${GgmlType[vt]} not supported`);
    if (p.headDim > 256) throw new WebGpuError(`webgpu: head_dim ${p.headDim} > 256`);
    const o = act(out, 'attention out');
    const kp = this.poolOfTable(kv.kPages);
    const vp = this.poolOfTable(kv.vPages);
    const rowLen = p.nHeadKv * p.headDim;
    const flags = kt === GgmlType.F16 && vt === GgmlType.F16 ? 1 : 0;
    const units = nTok * p.nHead;
    const gx = Math.min(units, MAX_WG);
    this.dispatch(
      `attn${kt}.${vt}${this.caps.f16}`, 'wv', () => attentionShader(this.caps, kt, vt),
      [
        act(q, 'q').word, o.word, nTok, act(qPos, 'qPos').word, nKv, p.nHead, p.nHeadKv, p.headDim,
        act(kv.kPages, 'k pages').word, act(kv.vPages, 'v pages').word, kv.pageSize, kp.pageBytes, vp.pageBytes,
        kvRowBytesOf(kt, rowLen), kvRowBytesOf(vt, rowLen), p.window ?? 0, f32bits(p.scale), f32bits(p.softcap ?? 0), flags,
      ],
      gx, Math.ceil(units / gx), kp, vp,
    );
    this.wrote(o);
  }

  // ---- execution ----
  private ensureArena(): GPUBuffer {
    const need = Math.max(16, this.arenaBytes);
    if (this.arena && this.arenaSize >= need) return this.arena;
    const buf = this.device.createBuffer({ size: need, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | GPUBufferUsage.COPY_SRC });
    if (this.arena) {
      const enc = this.device.createCommandEncoder();
      enc.copyBufferToBuffer(this.arena, 0, buf, 0, this.arenaSize);
      this.device.queue.submit([enc.finish()]);
      this.arena.destroy();
    }
    this.arena = buf;
    this.arenaSize = need;
    this.bindGroups.clear();
    return buf;
  }

  private bindGroup(d: Dispatch, arena: GPUBuffer, params: GPUBuffer): GPUBindGroup {
    const key = `${d.layout}|${d.wId}|${d.vId}`;
    let g = this.bindGroups.get(key);
    if (!g) {
      const entries: GPUBindGroupEntry[] = [
        { binding: 0, resource: { buffer: params, offset: 0, size: 128 } },
        { binding: 1, resource: { buffer: arena } },
        { binding: 2, resource: { buffer: d.w ?? this.dummy } },
      ];
      if (d.layout === 'wv') entries.push({ binding: 3, resource: { buffer: d.v ?? this.dummy } });
      g = this.device.createBindGroup({ layout: this.pipes.layout(d.layout), entries });
      this.bindGroups.set(key, g);
    }
    return g;
  }

  async compute(): Promise<void> {
    const dev = this.device;
    const arena = this.ensureArena();
    const paramBytes = Math.max(1, this.nSlots) * SLOT;
    if (!this.paramBuf || this.paramBuf.size < paramBytes) {
      this.paramBuf?.destroy();
      this.paramBuf = dev.createBuffer({ size: align(paramBytes * 2, 4096), usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
      this.bindGroups.clear();
    }
    const params = this.paramBuf;
    dev.pushErrorScope('validation');
    for (const r of this.hostRoots) if (!r.gpuOwned) dev.queue.writeBuffer(arena, r.off, r.shadow!, 0, align(r.bytes, 4));
    if (this.nSlots > 0) dev.queue.writeBuffer(params, 0, this.params.buffer, 0, this.nSlots * SLOT);
    const enc = dev.createCommandEncoder();
    let pass: GPUComputePassEncoder | null = null;
    for (const r of this.recs) {
      if ('copy' in r) {
        pass?.end();
        pass = null;
        enc.copyBufferToBuffer(r.src, r.srcOff, r.dst, r.dstOff, r.size);
        continue;
      }
      pass ??= enc.beginComputePass();
      pass.setPipeline(r.pipe);
      pass.setBindGroup(0, this.bindGroup(r, arena, params), [r.slot * SLOT]);
      pass.dispatchWorkgroups(r.x, r.y);
    }
    pass?.end();
    // written byte ranges, widened to words
    const down = this.hostRoots.filter((r) => r.written);
    for (const r of down) {
      r.lo = Math.max(0, r.lo & ~3);
      r.hi = Math.min(align(r.bytes, 4), align(r.hi, 4));
    }
    let total = 0;
    for (const r of down) total += r.hi - r.lo;
    if (total > 0 && (!this.staging || this.staging.size < total)) {
      this.staging?.destroy();
      this.staging = dev.createBuffer({ size: align(total, 256), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    }
    let off = 0;
    for (const r of down) {
      enc.copyBufferToBuffer(arena, r.off + r.lo, this.staging!, off, r.hi - r.lo);
      off += r.hi - r.lo;
    }
    dev.queue.submit([enc.finish()]);
    this.recs = [];
    this.nSlots = 0;
    const err = dev.popErrorScope();
    if (total > 0) {
      const st = this.staging!;
      await st.mapAsync(GPUMapMode.READ, 0, total);
      const bytes = new Uint8Array(st.getMappedRange(0, total));
      off = 0;
      for (const r of down) {
        const n = r.hi - r.lo;
        new Uint8Array(r.shadow!, r.lo, n).set(bytes.subarray(off, off + n));
        off += n;
      }
      st.unmap();
    } else {
      await dev.queue.onSubmittedWorkDone();
    }
    const e = await err;
    if (e) throw new WebGpuError(`webgpu: ${e.message}`);
    // Roots an op wrote but the host has no view of stay on the GPU.
    for (const r of this.recRoots) {
      r.clear();
      r.gpuOwned = true; // uploaded (if it had a shadow) before this run; from now on the GPU's copy is the one
    }
    this.recRoots.clear();
  }

  /** Copies an activation buffer to the host (tests; the models use f32()/i32() views). */
  async read(t: Tensor): Promise<Float32Array> {
    const a = act(t, 'read()');
    if (!a.root.shadow) {
      this.f32(t); // gives its root a shadow
      a.root.gpuOwned = true; // filled from the GPU, not uploaded
    }
    a.root.mark(a.rel, a.rel + a.byteSize);
    this.recRoots.add(a.root);
    await this.compute();
    return this.f32(t);
  }

  /** Copies `bytes` bytes of page `handle` to the host (tests and debugging; runs what was recorded first). */
  async readPage(handle: number, bytes: number): Promise<Uint8Array> {
    await this.compute();
    const p = this.pool(handle);
    const size = align(bytes, 4);
    const st = this.device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const enc = this.device.createCommandEncoder();
    enc.copyBufferToBuffer(p.buf, (handle & 0xfffff) * p.pageBytes, st, 0, size);
    this.device.queue.submit([enc.finish()]);
    await st.mapAsync(GPUMapMode.READ);
    const out = new Uint8Array(st.getMappedRange()).slice(0, bytes);
    st.destroy();
    return out;
  }

  async close(): Promise<void> {
    for (const b of this.buffers) b.destroy();
    this.buffers.length = 0;
    this.arena?.destroy();
    this.paramBuf?.destroy();
    this.staging?.destroy();
    this.copyTmp?.destroy();
    this.dummy.destroy();
    if (this.ownsDevice) this.device.destroy();
  }
}
