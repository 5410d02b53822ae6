/// <reference types="@webgpu/types" />
/**
 * Compute pipelines, built on first use and kept. Every pipeline has an explicit layout (the parameter slot is a
 * dynamic uniform offset, which 'auto' layouts cannot express): binding 0 uniform params, 1 the activation
 * arena (read-write), 2 `W` (read-only: a weight buffer or a K page pool; read-write for KV_STORE's pool),
 * 3 `V` (read-only: the V page pool, attention only).
 */
export type LayoutKind = 'w' | 'wrw' | 'wv';

export class Pipelines {
  private readonly layouts = new Map<LayoutKind, GPUBindGroupLayout>();
  private readonly pipes = new Map<string, { pipe: GPUComputePipeline; layout: LayoutKind }>();

  constructor(private readonly device: GPUDevice) {}

  layout(kind: LayoutKind): GPUBindGroupLayout {
    let l = this.layouts.get(kind);
    if (!l) {
      const C = GPUShaderStage.COMPUTE;
      const entries: GPUBindGroupLayoutEntry[] = [
        { binding: 0, visibility: C, buffer: { type: 'uniform', hasDynamicOffset: true, minBindingSize: 128 } },
        { binding: 1, visibility: C, buffer: { type: 'storage' } },
        { binding: 2, visibility: C, buffer: { type: kind === 'wrw' ? 'storage' : 'read-only-storage' } },
      ];
      if (kind === 'wv') entries.push({ binding: 3, visibility: C, buffer: { type: 'read-only-storage' } });
      l = this.device.createBindGroupLayout({ entries });
      this.layouts.set(kind, l);
    }
    return l;
  }

  /** The pipeline named `key`, compiled from `source()` the first time. */
  get(key: string, layout: LayoutKind, source: () => string): { pipe: GPUComputePipeline; layout: LayoutKind } {
    let p = this.pipes.get(key);
    if (!p) {
      const module = this.device.createShaderModule({ code: source(), label: key });
      const pipe = this.device.createComputePipeline({
        label: key,
        layout: this.device.createPipelineLayout({ bindGroupLayouts: [this.layout(layout)] }),
        compute: { module, entryPoint: 'main' },
      });
      p = { pipe, layout };
      this.pipes.set(key, p);
    }
    return p;
  }
}
