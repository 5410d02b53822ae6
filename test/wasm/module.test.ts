/**
 * The committed modules (wasm/dist) against the ABI: exports, shared 4 GiB memory import,
 * v128 code in the kernels (decoded from the function bodies), relaxed instructions only in the
 * relaxed build, ABI version check, known-answer variant choice, one-time data init and stacks.
 */
import { readFile } from 'node:fs/promises';
import { decode } from '@webassemblyjs/wasm-parser';
import { describe, expect, it, vi } from 'vitest';
import { ABI_VERSION, EXPORT_NAMES, Op, STACK_BYTES, WASM_FILES, type CoreExports } from '../../src/backend/wasm/abi.ts';
import { WasmCore, detectWasmFeatures, instantiateCore } from '../../src/backend/wasm/core.ts';
import { decodeFunctions, withCallees } from '../helpers/wasm-code.ts';
import { loadCore, runOp } from '../helpers/core.ts';

const bytesOf = async (file: string) => new Uint8Array(await readFile(new URL(`../../wasm/dist/${file}`, import.meta.url)));

/** Where each op's kernel lives in the crate (v0-demangled paths). */
const KERNELS: Record<keyof typeof Op, RegExp> = {
  MATMUL: /::ops::matmul(::|$)/,
  GET_ROWS: /::ops::get_rows(::|$)/,
  RMSNORM: /::ops::norm::/,
  ROPE: /::ops::rope::/,
  SOFTMAX: /::ops::softmax::/,
  SILU: /::ops::act::(run_)?silu$/,
  SWIGLU: /::ops::act::(run_)?swiglu$/,
  GELU: /::ops::act::(run_)?gelu$/,
  ADD: /::ops::elementwise::(run_)?add$/,
  MUL: /::ops::elementwise::(run_)?mul$/,
  SCALE: /::ops::elementwise::(run_)?scale$/,
  KV_STORE: /::ops::kv::/,
  ATTENTION: /::ops::attention::/,
  SOFTCAP: /::ops::act::run_softcap$/,
  NORM: /::ops::norm::run_layernorm$/,
  REPACK: /::ops::repack::/,
  IMAGE_RESAMPLE: /::ops::image::/,
};
/** Ops whose work is moving bytes, not arithmetic: no v128 required. */
const DATA_MOVEMENT = new Set<keyof typeof Op>(['GET_ROWS', 'KV_STORE', 'REPACK']);
/** Scalar by design: SOFTCAP runs once per token over the logits (a scalar tanh); NORM (BERT's LayerNorm) sums in f64 in order, as ggml. */
const SCALAR_OPS = new Set<keyof typeof Op>(['SOFTCAP', 'NORM']);

for (const variant of ['simd', 'relaxed'] as const) {
  describe(`${WASM_FILES[variant]}`, async () => {
    const bytes = await bytesOf(WASM_FILES[variant]);
    const ast = decode(bytes, { ignoreCodeSection: true, ignoreDataSection: true }) as {
      body: { fields: { type: string; name?: string; module?: string; descr?: { type?: string; exportType?: string; limits?: { min: number; max?: number; shared?: boolean } } }[] }[];
    };
    const fields = ast.body[0].fields;
    const funcs = decodeFunctions(bytes);

    it('has every export of ABI.md with the right kind', () => {
      const exports = new Map(fields.filter((f) => f.type === 'ModuleExport').map((f) => [f.name!, f.descr!.exportType]));
      for (const name of EXPORT_NAMES) expect(exports.get(name), name).toBe(name === '__stack_pointer' ? 'Global' : 'Func');
    });

    it('imports only env.memory: shared, max 4 GiB', () => {
      const imports = fields.filter((f) => f.type === 'ModuleImport');
      expect(imports.map((i) => `${i.module}.${i.name}`)).toEqual(['env.memory']);
      const limits = imports[0].descr!.limits!;
      expect(limits.shared).toBe(true);
      expect(limits.max).toBe(65536);
    });

    it('decodes every function body', () => {
      expect(funcs.length).toBeGreaterThan(5);
      expect(funcs.find((f) => f.name === 'tsr_graph_run')).toBeDefined();
    });

    it('uses wasm atomics for the barrier', () => {
      const run = funcs.filter((f) => f.name === 'tsr_graph_run');
      expect(withCallees(funcs, run).reduce((s, f) => s + f.atomicOps, 0)).toBeGreaterThan(0);
    });

    for (const op of Object.keys(KERNELS) as (keyof typeof Op)[]) {
      if (DATA_MOVEMENT.has(op) || SCALAR_OPS.has(op)) continue;
      // Entry points are #[inline(never)] (wasm/src/ops/mod.rs), so each op has named functions.
      const roots = funcs.filter((f) => KERNELS[op].test(f.path));
      it(`${op}: kernel code contains v128 instructions`, () => {
        expect(roots.length, `a function matching ${KERNELS[op]} in the name section`).toBeGreaterThan(0);
        expect(withCallees(funcs, roots).reduce((s, f) => s + f.simdOps, 0)).toBeGreaterThan(0);
      });
    }

    it(variant === 'relaxed' ? 'contains relaxed-simd instructions (RMSNORM uses relaxed madd)' : 'contains no relaxed-simd instruction', () => {
      const relaxed = funcs.reduce((s, f) => s + f.relaxedOps, 0);
      if (variant === 'simd') expect(relaxed).toBe(0);
      else {
        expect(relaxed).toBeGreaterThan(0);
        const norm = withCallees(funcs, funcs.filter((f) => KERNELS.RMSNORM.test(f.path)));
        expect(norm.reduce((s, f) => s + f.relaxedOps, 0)).toBeGreaterThan(0);
      }
    });
  });
}

describe('loader', () => {
  it('reports the features of this runtime', () => {
    const f = detectWasmFeatures();
    expect(f.simd128).toBe(true);
    expect(f.threads).toBe(true);
    // Node 20 has relaxed-simd only behind a flag, and then its i8 dot fails the known answer.
    if (process.versions.node.startsWith('20.')) expect(f.relaxedSimd).toBe(false);
  });

  it('auto picks relaxed exactly when the known-answer test passes', async () => {
    const core = await WasmCore.load();
    expect(core.variant).toBe(detectWasmFeatures().relaxedSimd ? 'relaxed' : 'simd');
    expect(core.exports.tsr_abi_version()).toBe(ABI_VERSION);
    expect(core.exports.tsr_features() & 1).toBe(core.variant === 'relaxed' ? 1 : 0);
  });

  it('refuses a module with another ABI version', async () => {
    const core = await loadCore('simd');
    const { AbiVersionError } = await import('../../src/backend/wasm/core.ts');
    expect(core.exports.tsr_abi_version()).toBe(ABI_VERSION);
    expect(new AbiVersionError(2)).toBeInstanceOf(Error);
    expect(new AbiVersionError(2).code).toBe('wasm_abi_mismatch');
  });

  it('a second instance on the same memory does not re-initialise data/bss and gets its own stack', async () => {
    const core = await WasmCore.load({ variant: 'simd' });
    core.setScalar(true); // a static in .bss of the shared memory
    const heapBase = core.exports.tsr_heap_base();
    const before = core.u8(0, heapBase).slice();
    const stack = core.alloc(STACK_BYTES, 16);
    const second = instantiateCore(core.module, core.memory, stack + STACK_BYTES);
    expect(Buffer.compare(core.u8(0, heapBase), before)).toBe(0);
    expect(second.__stack_pointer.value).toBe(stack + STACK_BYTES);
    expect(core.exports.__stack_pointer.value).not.toBe(stack + STACK_BYTES);
    core.setScalar(false);
  });

  it('every op code of the ABI is dispatched (runs with zero-sized work)', async () => {
    const core = await loadCore('simd');
    const missing: string[] = [];
    // Zero work, but divisors that must be > 0 (head counts, page size) are set.
    const empty: Partial<Record<keyof typeof Op, number[]>> = {
      KV_STORE: [0, 0, 64, 0, 0, 16, 0],
      ATTENTION: [0, 0, 0, 0, 0, 1, 1, 64, 0, 0, 16, 0, 0x3f800000, 0],
    };
    for (const [name, code] of Object.entries(Op)) {
      try {
        await runOp(core, code, empty[name as keyof typeof Op] ?? []);
      } catch {
        missing.push(name);
      }
    }
    expect(missing).toEqual([]);
  });

  it('an unknown op code traps as a WasmTrapError', async () => {
    const core = await loadCore('simd');
    await expect(runOp(core, 99, [])).rejects.toMatchObject({ code: 'wasm_trap' });
  });

  // Last: it turns on a V8 flag for the rest of this process.
  // Node 20's flagged relaxed dot is wrong in its baseline compiler (Liftoff) and right in TurboFan, which the
  // loader forces (core.ts preferOptimizingCompiler). Whatever the runtime does, the loader must pick the
  // relaxed build exactly when the module's own known-answer test passes.
  it('Node 20 with relaxed-simd enabled by flag: the loader follows the known answer', async () => {
    if (!process.versions.node.startsWith('20.')) return; // only Node 20 needs the flag
    const v8 = await import('node:v8');
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
    const bytes = await bytesOf(WASM_FILES.relaxed);
    expect(WebAssembly.validate(bytes)).toBe(true); // the flag took effect
    vi.resetModules(); // fresh caches in core.ts
    const fresh = await import('../../src/backend/wasm/core.ts');
    const { module } = await fresh.compileCore('relaxed');
    const memory = new WebAssembly.Memory({ initial: 64, maximum: 64, shared: true });
    const ex = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as CoreExports;
    expect(ex.tsr_features()).toBe(1);
    const kat = ex.tsr_kat_relaxed_dot();
    expect(fresh.detectWasmFeatures().relaxedSimd).toBe(kat === 1);
    expect((await fresh.WasmCore.load()).variant).toBe(kat === 1 ? 'relaxed' : 'simd');
  });
});
