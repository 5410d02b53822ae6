/**
 * `tessera hw`: this machine's hardware report (src/hardware/report.ts) and which backends could run here;
 * `--json` prints the whole report; `--require KIND` exits 1 with the reason when KIND cannot run here.
 */
import { parseArgs } from 'node:util';
import { BackendUnavailableError } from '../hardware/errors.ts';
import { detectHardware, type HardwareReport } from '../hardware/report.ts';
import { BACKEND_KINDS, considerBackends } from '../hardware/select.ts';
import { UsageError } from './args.ts';
import type { Command } from './command.ts';

const HELP = `usage: tessera hw [--json] [--require KIND]

Detects this machine's hardware (each probe time-bounded): CPU cores and SIMD level, host memory, the
WebAssembly features (each by a known-answer test), the WebGPU adapter, CUDA devices (driver API), the
native backend, and which backend each would allow.

  --json           print the whole report as JSON
  --require KIND   exit 1 unless KIND (${BACKEND_KINDS.join(', ')}) can run here`;

const yn = (b: boolean | undefined) => (b ? 'yes' : 'no');
const gib = (n: number) => `${(n / 2 ** 30).toFixed(1)} GiB`;

export function formatReport(r: HardwareReport): string {
  const lines: [string, string][] = [];
  lines.push(['runtime', `${r.runtime.name} ${r.runtime.version} (${r.runtime.platform})`]);
  lines.push(['cpu', r.cpu ? `${r.cpu.model}, ${r.cpu.cores} cores, ${r.cpu.arch}, SIMD ${r.cpu.simd}${r.cpu.simdFlags.length ? ` (${r.cpu.simdFlags.join(' ')})` : ''}` : `unknown: ${r.probes.cpu.error}`]);
  lines.push(['memory', r.memory ? `${gib(r.memory.totalBytes)} total, ${gib(r.memory.freeBytes)} free` : `unknown: ${r.probes.memory.error}`]);
  lines.push(['wasm', `simd128 ${yn(r.wasm.simd128)}, relaxed-simd ${yn(r.wasm.relaxedSimd)}, threads ${yn(r.wasm.threads)}, memory64 ${yn(r.wasm.memory64)} (known-answer tests)`]);
  const g = r.webgpu;
  lines.push(['webgpu', g.available
    ? `${g.reason}; shader-f16 ${yn(g.features?.shaderF16)}, subgroups ${yn(g.features?.subgroups)}, timestamp-query ${yn(g.features?.timestampQuery)}; maxBufferSize ${g.limits?.maxBufferSize}, maxStorageBufferBindingSize ${g.limits?.maxStorageBufferBindingSize}`
    : `not available: ${g.reason}`]);
  if (r.cuda.available) {
    for (const d of r.cuda.devices) lines.push([`cuda:${d.index}`, `${d.name}, ${d.smCount} SMs, ${gib(d.totalMemBytes)}, ${d.busWidthBits}-bit at ${(d.memoryClockKHz / 1e6).toFixed(3)} GHz = ${(d.bandwidthBytesPerSec / 1e9).toFixed(0)} GB/s`]);
  } else lines.push(['cuda', `not available: ${r.cuda.reason}`]);
  lines.push(['native', r.native.available ? r.native.reason : `not available: ${r.native.reason}`]);
  for (const c of considerBackends(r, 0)) lines.push([`→ ${c.kind}`, `${c.usable ? 'usable' : 'not usable'}: ${c.reason}`]);
  lines.push(['probes', Object.entries(r.probes).map(([k, p]) => `${k} ${p.ms} ms${p.ok ? '' : ' (failed)'}`).join(', ')]);
  lines.push(['fingerprint', r.fingerprint]);
  const w = Math.max(...lines.map(([k]) => k.length));
  return lines.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

export const hw: Command = {
  name: 'hw',
  summary: 'show the detected hardware and usable backends',
  help: HELP,
  async run(args) {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { json: { type: 'boolean' }, require: { type: 'string' } } });
    if (positionals.length) throw new UsageError(`hw: unexpected argument '${positionals[0]}'`, HELP);
    const req = values.require;
    if (req !== undefined && !(BACKEND_KINDS as readonly string[]).includes(req)) throw new UsageError(`hw: --require must be one of ${BACKEND_KINDS.join(', ')}; got '${req}'`, HELP);
    const r = await detectHardware();
    console.log(values.json ? JSON.stringify(r, null, 2) : formatReport(r));
    if (req) {
      const v = considerBackends(r, 0).find((c) => c.kind === req)!;
      if (!v.usable) throw new BackendUnavailableError(req, v.reason);
    }
    return 0;
  },
};
