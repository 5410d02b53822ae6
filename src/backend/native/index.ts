/**
 * The native CPU backend (the Rust core as a shared library over FFI): a factory and a probe for
 * backend selection. `probeNative()` never throws and is bounded in time.
 */
import { Op } from '../wasm/abi.ts';
import { CommandList } from '../wasm/commands.ts';
import type { SimdLevel } from './abi.ts';
import { NativeBackend, type NativeBackendOptions } from './backend.ts';
import { NativeCore } from './core.ts';

export { NativeBackend, type NativeBackendOptions } from './backend.ts';
export { NativeLoadError } from './core.ts';
export type { SimdLevel } from './abi.ts';

/** A native backend (throws NativeLoadError when the library cannot be loaded here). */
export function createNativeBackend(opts: NativeBackendOptions = {}): Promise<NativeBackend> {
  return NativeBackend.create(opts);
}

export interface NativeProbe {
  available: boolean;
  simdLevel: SimdLevel;
  error?: string;
}

let probed: Promise<NativeProbe> | undefined;

/**
 * Whether the native backend works here: loads the library, creates a one-thread context and
 * runs a known-answer SCALE. Cached; resolves within `timeoutMs` (default 3000) with
 * `available: false` and the reason otherwise.
 */
export function probeNative(timeoutMs = 3000): Promise<NativeProbe> {
  probed ??= (async (): Promise<NativeProbe> => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<NativeProbe>((res) => {
      timer = setTimeout(() => res({ available: false, simdLevel: 'scalar', error: `probe timed out after ${timeoutMs} ms` }), timeoutMs);
    });
    try {
      return await Promise.race([knownAnswer(), timeout]);
    } catch (e) {
      return { available: false, simdLevel: 'scalar', error: (e as Error)?.message ?? String(e) };
    } finally {
      clearTimeout(timer);
    }
  })();
  return probed;
}

async function knownAnswer(): Promise<NativeProbe> {
  const core = await NativeCore.create({ threads: 1, reserveMiB: 1 });
  try {
    const x = core.alloc(16);
    core.f32(x, 4).set([1, -2, 3.5, 0.25]);
    const cmds = new CommandList(core, 1);
    cmds.push(Op.SCALE, x, x, 4, CommandList.f32bits(2));
    core.run(cmds);
    const got = Array.from(core.f32(x, 4));
    if (got.join() !== '2,-4,7,0.5') return { available: false, simdLevel: core.lib.level, error: `known-answer test failed: ${got}` };
    return { available: true, simdLevel: core.lib.level };
  } finally {
    core.close();
  }
}
