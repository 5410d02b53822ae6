/**
 * Backend selection and autotuning through the library API: what runs and why (`engine.backendInfo`),
 * an explicitly requested backend that can't run here is a named error, a backend that fails to start
 * falls back to wasm with the failure recorded, and the tuner stores its winners (memory storage) under
 * the hardware fingerprint and kernel version and reuses them, with logits bit-identical to an untuned
 * engine (the chunk size only changes which thread computes a row).
 */
import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BackendUnavailableError, createEngine, registerBackend, ValidationError, type Engine } from '../../src/index.ts';
import { WasmBackend } from '../../src/backend/wasm/backend.ts';
import { detectHardware, type HardwareReport } from '../../src/hardware/report.ts';
import { considerBackends } from '../../src/hardware/select.ts';
import { GgmlType } from '../../src/gguf/types.ts';
import { MemoryStorage } from '../../src/storage/memory.ts';
import { tinyLlamaVocab, writeSyntheticLlama } from '../../src/synth/index.ts';

const DIR = join(tmpdir(), 'tessera-hw-select');
const MODEL = join(DIR, 'tiny.gguf');
let hw: HardwareReport;
const open: Engine[] = [];
async function engine(opts: Parameters<typeof createEngine>[0]): Promise<Engine> {
  const e = await createEngine(opts);
  open.push(e);
  return e;
}

beforeAll(async () => {
  mkdirSync(DIR, { recursive: true });
  await writeSyntheticLlama(MODEL, { nEmbd: 256, nLayer: 2, nHead: 4, nHeadKv: 2, nFf: 512, type: 'Q8_0', seed: 11, tokenizer: tinyLlamaVocab() });
  hw = await detectHardware();
});
afterAll(async () => {
  for (const e of open) await e.close();
});

describe('backend selection', () => {
  it("auto on this machine: native where its SIMD build loads (the model is Q8_0), else wasm; every kind's verdict and the facts", async () => {
    const e = await engine({ model: MODEL, threads: 2, hardware: hw, tune: false });
    const b = e.backendInfo;
    const nativeFirst = hw.native.available && hw.native.simdKernels === true && !hw.cuda.available;
    expect(hw.native.simdKernels).toBe(hw.native.available && ['avx2', 'avx512'].includes(hw.native.simdLevel ?? ''));
    expect(b.kind).toBe(nativeFirst ? 'native' : 'wasm');
    expect(b.requested).toBe('auto');
    expect(b.reason).toMatch(nativeFirst ? /^auto: native library .*SIMD kernels for every weight type of this model/ : /^auto: WASM simd128/);
    expect(b.considered.map((c) => c.kind)).toEqual(['cuda', 'webgpu', 'native', 'wasm']);
    const cuda = b.considered.find((c) => c.kind === 'cuda')!;
    expect(cuda.usable).toBe(false);
    if (!hw.cuda.available) expect(cuda.reason).toContain('libcuda');
    expect(b.facts).toMatchObject({ fingerprint: hw.fingerprint, threads: 2 });
    expect(b.facts.modelBytes).toBeGreaterThan(0);
    expect(b.fallback).toBeNull();
    expect(b.tuning).toMatchObject({ source: 'off' });
  });

  it('an explicitly requested backend that is unavailable is BackendUnavailableError (503 code), not a fallback', async () => {
    // A machine where none of them is there (this one may have WebGPU through a software adapter, and the native library).
    const none: HardwareReport = {
      ...hw,
      cuda: { ...hw.cuda, available: false, reason: 'test: no libcuda', devices: [] },
      webgpu: { available: false, reason: 'test: no adapter' },
      native: { available: false, reason: 'test: no native library' },
    };
    for (const kind of ['cuda', 'webgpu', 'native'] as const) {
      const err = await createEngine({ model: MODEL, threads: 1, hardware: none, backend: kind }).then(() => null, (x: unknown) => x);
      expect(err, kind).toBeInstanceOf(BackendUnavailableError);
      expect((err as BackendUnavailableError).code).toBe('backend_unavailable');
      expect((err as Error).message).toMatch(new RegExp(`^backend '${kind}' is not available: .+`));
    }
    const e = await engine({ model: MODEL, threads: 1, hardware: hw, backend: 'wasm', tune: false });
    expect(e.backendInfo.reason).toMatch(/^requested: /);
  });

  it('an unknown backend name is a ValidationError', async () => {
    const err = await createEngine({ model: MODEL, hardware: hw, backend: 'tpu' as 'wasm' }).then(() => null, (x: unknown) => x);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toContain('auto, wasm, webgpu, native, cuda');
  });

  it('a preferred backend that fails to start falls back to wasm, recording why', async () => {
    let tried = 0;
    const restore = registerBackend({
      kind: 'native',
      probe: () => ({ usable: true, reason: 'pretend native library' }),
      create: async () => {
        tried++;
        throw new Error('dlopen: libtessera_native.so: bad ELF');
      },
    });
    try {
      const e = await engine({ model: MODEL, threads: 1, hardware: hw, tune: false });
      expect(tried).toBe(1);
      expect(e.backendInfo.kind).toBe('wasm');
      expect(e.backendInfo.fallback).toEqual({ from: 'native', error: 'dlopen: libtessera_native.so: bad ELF' });
      expect(e.backendInfo.reason).toMatch(/^fallback: native failed to start \(dlopen/);
      // Requested explicitly, the same failure is an error.
      const err = await createEngine({ model: MODEL, threads: 1, hardware: hw, backend: 'native' }).then(() => null, (x: unknown) => x);
      expect(err).toBeInstanceOf(BackendUnavailableError);
      expect((err as Error).message).toContain('failed to start: dlopen');
    } finally {
      restore();
    }
  });

  it('a failed probe (webgpu hung) only removes that backend', async () => {
    const r = await detectHardware({ probes: { webgpu: () => new Promise(() => {}) }, timeoutMs: { webgpu: 100 } });
    const e = await engine({ model: MODEL, threads: 1, hardware: r, tune: false });
    expect(e.backendInfo.kind).toBe(r.native.available && r.native.simdKernels ? 'native' : 'wasm');
    expect(e.backendInfo.considered.find((c) => c.kind === 'webgpu')!.reason).toContain('timed out');
  });

  it('auto and the native library: taken only with SIMD kernels for every weight type and one arena; else wasm, said why', async () => {
    const simdHw: HardwareReport = { ...hw, cuda: { ...hw.cuda, available: false }, webgpu: { ...hw.webgpu, available: false }, native: { available: true, reason: 'native library (avx2) passes its known-answer test', simdLevel: 'avx2', simdKernels: true } };
    const pick = (h: HardwareReport, model?: { weightTypes?: number[]; sharded?: boolean }) => {
      const c = considerBackends(h, 1 << 20, model);
      return { kind: c.find((v) => v.usable && !v.notForAuto)!.kind, native: c.find((v) => v.kind === 'native')! };
    };
    expect(pick(simdHw, { weightTypes: [GgmlType.Q4_K, GgmlType.Q6_K, GgmlType.F32] }).kind).toBe('native');
    const q41 = pick(simdHw, { weightTypes: [GgmlType.Q4_0, GgmlType.Q4_1] });
    expect(q41.kind).toBe('wasm');
    expect(q41.native.reason).toContain('no SIMD kernels for Q4_1');
    expect(pick(simdHw, { weightTypes: [GgmlType.F16] }).native.reason).toContain('no SIMD kernels for F16');
    expect(pick(simdHw, { weightTypes: [GgmlType.Q8_0], sharded: true }).kind).toBe('wasm');
    expect(pick(simdHw).native.reason).toContain('weight types are unknown');
    const scalarHw: HardwareReport = { ...simdHw, native: { ...simdHw.native, simdLevel: 'scalar', simdKernels: false } };
    expect(pick(scalarHw, { weightTypes: [GgmlType.Q8_0] }).kind).toBe('wasm');
    // Through the engine: a Q4_1 model on the SIMD-capable report runs on WASM, a Q8_0 one on native.
    const q41Model = join(DIR, 'tiny-q4_1.gguf');
    await writeSyntheticLlama(q41Model, { nEmbd: 256, nLayer: 1, nHead: 4, nHeadKv: 2, nFf: 512, type: 'Q4_1', seed: 12, tokenizer: tinyLlamaVocab() });
    expect((await engine({ model: q41Model, threads: 1, hardware: simdHw, tune: false })).backendInfo.kind).toBe('wasm');
    if (hw.native.available) expect((await engine({ model: MODEL, threads: 1, hardware: simdHw, tune: false })).backendInfo.kind).toBe('native');
  });
});

describe('autotuning', () => {
  it('measures on first load, stores under fingerprint + kernel version, reuses; logits identical to untuned', async () => {
    const storage = new MemoryStorage();
    const a = await engine({ model: MODEL, threads: 2, hardware: hw, backend: 'wasm', tune: { storage, budgetMs: 100 } });
    const ta = a.backendInfo.tuning!;
    expect(ta.source).toBe('measured');
    expect(ta.key).toMatch(new RegExp(`^tune/${hw.fingerprint}/abi\\d+-(simd|relaxed)-[0-9a-f]{12}/[0-9a-f]{16}-t2$`));
    expect(await storage.list('tune/')).toEqual([ta.key]);
    // 256→256 (q, o), 256→128 (k, v), 256→512 (gate, up), 512→256 (down): decode and prefill; 256→vocab: decode only.
    const pairs = ta.choices.map((c) => `${c.nIn}→${c.nOut} ${c.phase}`).sort();
    expect(pairs).toContain('256→512 prefill');
    expect(pairs.filter((p) => p.endsWith('prefill')).every((p) => !p.includes(`→${a.info.nVocab} `))).toBe(true);
    // Past 1.5 × budget the remaining shapes keep the default unmeasured (rounds 0); the first is always measured.
    expect(ta.choices[0].rounds, JSON.stringify(ta.choices)).toBeGreaterThanOrEqual(3);
    for (const c of ta.choices.filter((x) => x.rounds > 0)) {
      if (c.rounds < 3) expect(c.chunkRows, 'cut short by the deadline: default').toBe(0);
      expect(c.bestMs!).toBeLessThanOrEqual(c.defaultMs!);
      if (c.chunkRows !== 0) expect(c.bestMs!).toBeLessThanOrEqual(c.defaultMs! * 0.97 * (1 + 1e-3)); // MIN_GAIN, up to the 4-digit rounding
    }

    const b = await engine({ model: MODEL, threads: 2, hardware: hw, backend: 'wasm', tune: { storage }, logitRows: 16 });
    const tb = b.backendInfo.tuning!;
    expect(tb.source).toBe('stored');
    expect(tb.key).toBe(ta.key);
    expect(tb.choices.map((c) => [c.wtype, c.nIn, c.nOut, c.phase, c.chunkRows])).toEqual(ta.choices.map((c) => [c.wtype, c.nIn, c.nOut, c.phase, c.chunkRows]));

    // Another machine (fingerprint) measures again.
    const c = await engine({ model: MODEL, threads: 2, hardware: { ...hw, fingerprint: '0123456789abcdef' }, backend: 'wasm', tune: { storage, budgetMs: 60 } });
    expect(c.backendInfo.tuning!.source).toBe('measured');
    expect(await storage.list('tune/')).toHaveLength(2);

    // Forced chunk sizes (every shape, both phases) and the default give the same logits, bit for bit.
    const untuned = await engine({ model: MODEL, threads: 2, hardware: hw, backend: 'wasm', tune: false, logitRows: 16 });
    const tokens = [1, 5, 9, 14, 3, 7, 22, 8, 2];
    const want = await untuned.evaluate(tokens);
    const greedy = async (e: Engine) => {
      const ids: number[] = [];
      for await (const ch of e.generate({ prompt: tokens, raw: true, options: { temperature: 0, num_predict: 12 } })) ids.push(ch.token);
      return ids;
    };
    const wantIds = await greedy(untuned);
    for (const rows of [8, 24, 1 << 20]) {
      const be = (b as unknown as { backend: WasmBackend }).backend;
      for (const w of be.matrixShapes.values()) for (const phase of ['decode', 'prefill'] as const) be.chunks.set({ wtype: w.type, nIn: w.dims[0], nOut: w.dims[1], phase, chunkRows: rows });
      expect(await greedy(b), `decode, chunk ${rows}`).toEqual(wantIds);
      const got = await b.evaluate(tokens);
      got.forEach((row, i) => expect(Buffer.compare(Buffer.from(row.buffer, row.byteOffset, row.byteLength), Buffer.from(want[i].buffer, want[i].byteOffset, want[i].byteLength)), `chunk ${rows} row ${i}`).toBe(0));
    }
  });

  it('one thread: nothing to tune, said so', async () => {
    const e = await engine({ model: MODEL, threads: 1, hardware: hw, backend: 'wasm', tune: { storage: new MemoryStorage() } });
    expect(e.backendInfo.tuning).toMatchObject({ source: 'untunable', reason: 'one thread: no split to tune' });
  });
});
