/**
 * The CUDA backend: the core's command-list recorder (../recorder.ts) over the CUDA library. One FFI call per
 * compute runs the list on the GPU (wasm/cuda/tessera_cuda.cu). Weights are uploaded once at load; activations,
 * scratch and KV pages live in the device arena; KV pages are copied on the device (copyPageBytes, no pageView),
 * so they never cross to the host. Nothing is allocated per token (the attention scores buffer only grows).
 */
import { GgmlType } from '../../gguf/types.ts';
import type { Tensor } from '../backend.ts';
import { CoreTensor, RecordingBackend } from '../recorder.ts';
import { CommandList } from '../wasm/commands.ts';
import { OP_COPY } from './abi.ts';
import { CudaCore, type CudaCoreOptions } from './core.ts';

export type CudaBackendOptions = CudaCoreOptions;

/** Weight types the CUDA MATMUL and GET_ROWS kernels take. */
export const CUDA_WEIGHT_TYPES: readonly GgmlType[] = [GgmlType.F32, GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_K, GgmlType.Q6_K];

export class CudaBackend extends RecordingBackend {
  readonly name = 'cuda';
  readonly nThreads = 1;

  private constructor(
    readonly core: CudaCore,
    cmds: CommandList,
  ) {
    super(core, cmds);
    // Pages stay on the device: the KV manager copies them with copyPageBytes and keeps no host tier.
    Object.defineProperty(this, 'pageView', { value: undefined });
  }

  static async create(opts: CudaBackendOptions = {}): Promise<CudaBackend> {
    const core = await CudaCore.create(opts);
    return new CudaBackend(core, new CommandList(core, 8192));
  }

  /** Whether this runs the host emulation of the kernels (tests) rather than a GPU. */
  get emulated(): boolean {
    return this.core.emulated;
  }

  override supportsWeightType(type: GgmlType): boolean {
    return CUDA_WEIGHT_TYPES.includes(type);
  }

  override async weight(type: GgmlType, dims: number[], fill: (dest: Uint8Array) => Promise<void>): Promise<Tensor> {
    const t = (await super.weight(type, dims, fill)) as CoreTensor;
    this.core.upload(t.ptr, t.byteSize);
    return t;
  }

  override f32(t: Tensor): Float32Array {
    this.core.hostRange((t as CoreTensor).ptr, t.byteSize);
    return super.f32(t);
  }
  override i32(t: Tensor): Int32Array {
    this.core.hostRange((t as CoreTensor).ptr, t.byteSize);
    return super.i32(t);
  }
  override u32(t: Tensor): Uint32Array {
    this.core.hostRange((t as CoreTensor).ptr, t.byteSize);
    return super.u32(t);
  }

  /** Records a device-side copy of the first `bytes` bytes of page `from` into page `to`. */
  copyPageBytes(from: number, to: number, bytes: number): void {
    if (bytes > 0) this.cmds.push(OP_COPY, from, to, bytes);
  }

  /** Runs what was recorded; a failed run (a CUDA error, an op without a kernel) is discarded, not retried. */
  override compute(): void {
    try {
      super.compute();
    } catch (e) {
      this.discard();
      throw e;
    }
  }

  protected execute(first: number, count: number): void {
    this.core.run(this.cmds, first, count);
  }

  async close(): Promise<void> {
    this.core.close();
  }
}
