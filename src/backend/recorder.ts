/**
 * The command-list recorder shared by the backends that run the Rust core (wasm/ABI.md): the WASM
 * backend (one linear memory, a worker pool) and the native backend (an arena in a shared library,
 * its own threads). Both hand out u32 pointer words — byte addresses in the wasm memory, offsets
 * from the arena base natively — so every op is recorded the same way; a subclass only says how
 * memory is allocated and viewed (`CoreMemory`) and how a range of commands is executed.
 */
import type { AttentionParams, Backend, KvLayerView, RopeParams, Tensor } from './backend.ts';
import { GgmlType } from '../gguf/types.ts';
import { matmulScratchBytes, Op } from './wasm/abi.ts';
import { CommandList } from './wasm/commands.ts';
import { MatmulChunks } from './wasm/chunks.ts';
import { RepackedRowsError, repackArgs } from './wasm/repack.ts';

/** What the recorder needs of a core's memory: u32 pointer words and host views of them. */
export interface CoreMemory {
  /** `bytes` bytes aligned to `align`; fresh memory is zero. */
  alloc(bytes: number, align?: number): number;
  u8(ptr: number, len: number): Uint8Array;
  f32(ptr: number, n: number): Float32Array;
  i32(ptr: number, n: number): Int32Array;
  u32(ptr: number, n: number): Uint32Array;
}

/** Weight types the core's MATMUL and GET_ROWS accept. */
const WEIGHT_TYPES = new Set<GgmlType>([
  GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0,
  GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.IQ4_NL,
  GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.Q3_K, GgmlType.Q2_K, GgmlType.IQ4_XS,
]);

const BLOCK: Partial<Record<GgmlType, [number, number]>> = {
  [GgmlType.F32]: [1, 4],
  [GgmlType.I32]: [1, 4],
  [GgmlType.F16]: [1, 2],
  [GgmlType.BF16]: [1, 2],
  [GgmlType.Q8_0]: [32, 34],
  [GgmlType.Q4_0]: [32, 18],
  [GgmlType.Q4_1]: [32, 20],
  [GgmlType.Q5_0]: [32, 22],
  [GgmlType.Q5_1]: [32, 24],
  [GgmlType.IQ4_NL]: [32, 18],
  [GgmlType.Q4_K]: [256, 144],
  [GgmlType.Q5_K]: [256, 176],
  [GgmlType.Q6_K]: [256, 210],
  [GgmlType.Q3_K]: [256, 110],
  [GgmlType.Q2_K]: [256, 84],
  [GgmlType.IQ4_XS]: [256, 136],
};

function byteSizeOf(type: GgmlType, dims: readonly number[]): number {
  const b = BLOCK[type];
  if (!b) throw new Error(`core backend: no layout for type ${GgmlType[type]}`);
  const n = dims.reduce((a, d) => a * d, 1);
  return (n / b[0]) * b[1];
}

/** A tensor in a core's memory: `ptr` is its u32 pointer word. */
export class CoreTensor implements Tensor {
  constructor(
    readonly type: GgmlType,
    readonly dims: readonly number[],
    readonly byteSize: number,
    readonly ptr: number,
    /** The type word the core's MATMUL/GET_ROWS get: `type`, or a repacked layout (src/backend/wasm/repack.ts). */
    readonly coreType: number = type,
  ) {}
}

const bits = CommandList.f32bits;

/** ATTENTION word 10 (ABI.md): page_size | (v_type + 1) << 12 | kv_type << 20 | flags << 28 (v field 0: V has kv_type). */
function attnLayout(pageSize: number, kvType: number, flags: number, vType = kvType): number {
  if (pageSize <= 0 || pageSize >= 1 << 12 || kvType > 0xff || vType >= 0xff || flags > 0xf) throw new RangeError(`attention: page size ${pageSize}, kv types ${kvType}/${vType} or flags ${flags} out of range`);
  const v = vType === kvType ? 0 : vType + 1;
  return (pageSize | (v << 12) | (kvType << 20) | (flags << 28)) >>> 0;
}
const ptr = (t: Tensor) => (t as CoreTensor).ptr;
const coreType = (t: Tensor) => (t as CoreTensor).coreType ?? t.type;

/** Per op (and per MATMUL weight type and shape): calls, total wall ms, multiply-adds. */
export type OpProfile = Map<string, { calls: number; ms: number; macs: number }>;
const OP_NAMES = new Map<number, string>(Object.entries(Op).map(([k, v]) => [v, k]));

export abstract class RecordingBackend implements Backend {
  abstract readonly name: string;
  abstract readonly nThreads: number;
  private scratch = 0; // matmul activation conversion, see ABI.md MATMUL
  private attnScratch = 0; // f32 [n_threads][max_kv]
  private scratchBytes = 0;
  private attnScratchBytes = 0;
  private allocated = 0;

  protected constructor(
    private readonly mem: CoreMemory,
    protected readonly cmds: CommandList,
  ) {}

  /** Runs commands `[first, first + count)` of the list on every thread; returns when done. */
  protected abstract execute(first: number, count: number): void;
  abstract close(): Promise<void>;

  supportsWeightType(type: GgmlType): boolean {
    return WEIGHT_TYPES.has(type);
  }

  private alloc(type: GgmlType, dims: number[]): CoreTensor {
    const size = byteSizeOf(type, dims);
    this.allocated += size;
    return new CoreTensor(type, dims, size, this.mem.alloc(size, 64));
  }

  /** A layout the core reads this weight in instead of `type`, or null (default; wasm/repack.ts has the layouts). */
  protected repackPlan(_type: GgmlType, _dims: readonly number[]): { coreType: number; bytes: number; scratch: number } | null {
    return null;
  }
  /** Runs a command list on this thread alone, now (REPACK as each weight loads); a backend whose repackPlan returns a plan implements it. */
  protected runNow(_list: CommandList): void {
    throw new Error(`${this.name}: repackPlan returned a plan but runNow is not implemented`);
  }

  /** One-command list for REPACK; its scratch grows as needed. */
  private repackCmd: CommandList | null = null;
  private repackScratch = 0;
  private repackScratchBytes = 0;

  /** Rewrites `t`, whose `rawBytes` loaded bytes sit at the tail of its allocation, into `t.coreType` in place. */
  private repack(t: CoreTensor, rawBytes: number, scratchBytes: number): void {
    if (scratchBytes > this.repackScratchBytes) {
      this.repackScratch = this.mem.alloc(scratchBytes, 64);
      this.repackScratchBytes = scratchBytes;
    }
    this.repackCmd ??= new CommandList(this.mem, 1);
    this.repackCmd.reset();
    this.repackCmd.push(Op.REPACK, ...repackArgs(t.type, t.dims, t.ptr + t.byteSize - rawBytes, t.ptr, this.repackScratch));
    this.runNow(this.repackCmd);
  }

  async weight(type: GgmlType, dims: number[], fill: (dest: Uint8Array) => Promise<void>): Promise<Tensor> {
    const plan = this.repackPlan(type, dims);
    let t: CoreTensor;
    if (plan) {
      const raw = byteSizeOf(type, dims);
      t = new CoreTensor(type, dims, plan.bytes, this.mem.alloc(plan.bytes, 64), plan.coreType);
      this.allocated += plan.bytes;
      await fill(this.mem.u8(t.ptr + plan.bytes - raw, raw));
      this.repack(t, raw, plan.scratch);
    } else {
      t = this.alloc(type, dims);
      await fill(this.mem.u8(t.ptr, t.byteSize));
    }
    if (dims.length === 2 && WEIGHT_TYPES.has(type)) {
      const k = `${type}:${dims[0]}:${dims[1]}`;
      if (!this.matrixShapes.has(k)) this.matrixShapes.set(k, t);
    }
    return t;
  }

  /** Tuned MATMUL chunk sizes per weight shape (src/hardware/tune.ts); empty: the core's default. */
  readonly chunks = new MatmulChunks();
  /** The first weight matrix of each (type, n_in, n_out) loaded: what the autotuner times matmuls on. */
  readonly matrixShapes = new Map<string, Tensor>();

  /** Scratch for tuning runs (the MATMUL conversion area reserved by `reserve`; 0 before it). */
  get matmulScratch(): number {
    return this.scratch;
  }

  buffer(type: GgmlType, dims: number[]): Tensor {
    return this.alloc(type, dims);
  }

  rows(t: Tensor, row: number, rows: number): Tensor {
    const rowBytes = t.byteSize / t.dims[t.dims.length - 1];
    const dims = [...t.dims.slice(0, -1), rows];
    const ct = coreType(t);
    if (ct !== t.type && (row % 4 !== 0 || rows % 4 !== 0)) throw new RepackedRowsError(row, rows);
    return new CoreTensor(t.type, dims, rowBytes * rows, ptr(t) + row * rowBytes, ct);
  }

  f32(t: Tensor): Float32Array {
    return this.mem.f32(ptr(t), t.byteSize >> 2);
  }
  i32(t: Tensor): Int32Array {
    return this.mem.i32(ptr(t), t.byteSize >> 2);
  }
  u32(t: Tensor): Uint32Array {
    return this.mem.u32(ptr(t), t.byteSize >> 2);
  }

  bytesAllocated(): number {
    return this.allocated;
  }

  reserve(opts: { maxTokens: number; maxRowLen: number; maxKv: number }): void {
    // Only grows: a second model on this backend (a vision encoder next to a text model) keeps the larger scratch.
    const bytes = matmulScratchBytes(opts.maxTokens, opts.maxRowLen);
    if (bytes > this.scratchBytes) {
      this.scratch = this.mem.alloc(bytes, 64);
      this.allocated += bytes;
      this.scratchBytes = bytes;
    }
    const attnBytes = this.nThreads * opts.maxKv * 4;
    if (attnBytes > this.attnScratchBytes) {
      this.attnScratch = this.mem.alloc(attnBytes, 64);
      this.allocated += attnBytes;
      this.attnScratchBytes = attnBytes;
    }
  }

  allocPages(nPages: number, bytesPerPage: number): number[] {
    const pages: number[] = [];
    for (let i = 0; i < nPages; i++) pages.push(this.mem.alloc(bytesPerPage, 64));
    this.allocated += nPages * bytesPerPage;
    return pages;
  }

  pageView(page: number, bytes: number): Uint8Array {
    return this.mem.u8(page, bytes);
  }

  // ---- ops ----
  matmul(out: Tensor, w: Tensor, x: Tensor, nTok: number): void {
    const chunk = this.chunks.get(w.type, w.dims[0], w.dims[1], nTok);
    this.cmds.push(Op.MATMUL, coreType(w), ptr(w), ptr(x), ptr(out), w.dims[0], w.dims[1], nTok, this.scratch, chunk);
  }
  getRows(out: Tensor, table: Tensor, ids: Tensor, n: number): void {
    this.cmds.push(Op.GET_ROWS, coreType(table), ptr(table), ptr(ids), ptr(out), table.dims[0], n);
  }
  rmsNorm(out: Tensor, x: Tensor, w: Tensor | null, eps: number, n: number, nRows: number): void {
    this.cmds.push(Op.RMSNORM, ptr(x), w ? ptr(w) : 0, ptr(out), n, nRows, bits(eps));
  }
  rope(x: Tensor, pos: Tensor, nTok: number, p: RopeParams): void {
    const ff = p.freqFactors ? ptr(p.freqFactors) : 0;
    const sec = p.sections ?? [0, 0, 0, 0];
    this.cmds.push(Op.ROPE, ptr(x), ptr(x), ptr(pos), nTok, p.nHead, p.headDim, p.nRot, p.mode, bits(p.freqBase), bits(p.freqScale), ff, sec[0] | (sec[1] << 16), sec[2] | (sec[3] << 16));
  }
  softmax(out: Tensor, x: Tensor, n: number, nRows: number, scale: number): void {
    this.cmds.push(Op.SOFTMAX, ptr(x), ptr(out), n, nRows, bits(scale));
  }
  swiglu(out: Tensor, gate: Tensor, up: Tensor, n: number): void {
    this.cmds.push(Op.SWIGLU, ptr(gate), ptr(up), ptr(out), n);
  }
  silu(out: Tensor, x: Tensor, n: number): void {
    this.cmds.push(Op.SILU, ptr(x), ptr(out), n);
  }
  // GELU in llama.cpp's numerics (its f16 table, ABI.md GELU flags bit 0), as attention uses its f16 roundings.
  gelu(out: Tensor, x: Tensor, n: number): void {
    this.cmds.push(Op.GELU, ptr(x), ptr(out), n, 0, 1);
  }
  geglu(out: Tensor, gate: Tensor, up: Tensor, n: number): void {
    this.cmds.push(Op.GELU, ptr(gate), ptr(out), n, ptr(up), 1);
  }
  layerNorm(out: Tensor, x: Tensor, w: Tensor | null, b: Tensor | null, eps: number, n: number, nRows: number): void {
    this.cmds.push(Op.NORM, ptr(x), w ? ptr(w) : 0, b ? ptr(b) : 0, ptr(out), n, nRows, bits(eps));
  }
  softcap(out: Tensor, x: Tensor, cap: number, n: number): void {
    this.cmds.push(Op.SOFTCAP, ptr(x), ptr(out), n, bits(cap));
  }
  add(out: Tensor, a: Tensor, b: Tensor, n: number, bLen = 0): void {
    this.cmds.push(Op.ADD, ptr(a), ptr(b), ptr(out), n, bLen);
  }
  mul(out: Tensor, a: Tensor, b: Tensor, n: number, bLen = 0): void {
    this.cmds.push(Op.MUL, ptr(a), ptr(b), ptr(out), n, bLen);
  }
  scale(out: Tensor, x: Tensor, s: number, n: number): void {
    this.cmds.push(Op.SCALE, ptr(x), ptr(out), n, bits(s));
  }
  kvStore(src: Tensor, nTok: number, rowLen: number, pos: Tensor, pages: Tensor, pageSize: number, kvType: GgmlType): void {
    this.cmds.push(Op.KV_STORE, ptr(src), nTok, rowLen, ptr(pos), ptr(pages), pageSize, kvType);
  }
  attention(out: Tensor, q: Tensor, qPos: Tensor, nTok: number, nKv: number, kv: KvLayerView, p: AttentionParams): void {
    this.cmds.push(
      Op.ATTENTION, ptr(q), ptr(out), nTok, ptr(qPos), nKv, p.nHead, p.nHeadKv, p.headDim,
      ptr(kv.kPages), ptr(kv.vPages), attnLayout(kv.pageSize, kv.kvType, 1, kv.vType), p.window ?? 0, bits(p.scale), this.attnScratch, bits(p.softcap ?? 0),
    );
  }

  compute(): void {
    if (this.profiler) this.computeProfiled(this.profiler);
    else this.execute(0, this.cmds.count);
    this.cmds.reset();
  }

  /** Commands recorded since the last compute/discard (ShardedBackend cuts its runs at these indices). */
  get recorded(): number {
    return this.cmds.count;
  }

  /** Executes recorded commands `[from, to)` and keeps the list (ShardedBackend runs one list in parts). */
  computeRange(from: number, to: number): void {
    this.execute(from, to - from);
  }

  /** Forgets the recorded commands without running them. */
  discard(): void {
    this.cmds.reset();
  }

  /**
   * Profiling (bench/profile.ts): while set, compute() runs the commands one at a time and adds each one's wall
   * time to `profiler` under its op name (MATMUL also by weight type and shape). Each command then pays a thread
   * wake-up and a barrier of its own, so the sum exceeds an unprofiled run; the shares are what it is for.
   */
  profiler: OpProfile | null = null;

  private computeProfiled(prof: OpProfile): void {
    const c = this.cmds;
    for (let i = 0; i < c.count; i++) {
      const t0 = performance.now();
      this.execute(i, 1);
      const ms = performance.now() - t0;
      const op = c.word(i, 0);
      let key = OP_NAMES.get(op) ?? `op${op}`;
      let macs = 0;
      if (op === Op.MATMUL) {
        // words: type, w, x, out, n_in, n_out, n_tok (ABI.md MATMUL)
        const [type, nIn, nOut, nTok] = [c.word(i, 1), c.word(i, 5), c.word(i, 6), c.word(i, 7)];
        key = `MATMUL ${GgmlType[type] ?? type} ${nIn}→${nOut}`;
        macs = nIn * nOut * nTok;
      }
      const e = prof.get(key) ?? { calls: 0, ms: 0, macs: 0 };
      e.calls++;
      e.ms += ms;
      e.macs += macs;
      prof.set(key, e);
    }
  }
}
