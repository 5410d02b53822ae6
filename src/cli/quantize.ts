/** `tessera quantize IN.gguf OUT.gguf TYPE`: quantizes an F32/F16/BF16 GGUF. */
import { parseArgs } from 'node:util';
import { ggmlTypeName } from '../gguf/ggml-types.ts';
import { QUANT_TARGETS, quantTarget, quantizeGguf } from '../quantize/index.ts';
import { UsageError } from './args.ts';
import type { Command } from './command.ts';

const HELP = `usage: tessera quantize IN.gguf OUT.gguf TYPE\n\nTYPE: ${[...QUANT_TARGETS.keys()].join(', ')}`;

export const quantize: Command = {
  name: 'quantize',
  summary: 'quantize an F32/F16/BF16 GGUF file',
  help: HELP,
  async run(args) {
    const { positionals } = parseArgs({ args, allowPositionals: true, options: {} });
    if (positionals.length !== 3) throw new UsageError('quantize: expected <in.gguf> <out.gguf> <TYPE>', HELP);
    const [input, output, type] = positionals;
    if (!quantTarget(type)) throw new UsageError(`quantize: unknown type '${type}' (one of ${[...QUANT_TARGETS.keys()].join(', ')})`, HELP);
    const t0 = performance.now();
    const r = await quantizeGguf(input, output, type);
    const counts = new Map<string, number>();
    for (const ty of r.types.values()) counts.set(ggmlTypeName(ty), (counts.get(ggmlTypeName(ty)) ?? 0) + 1);
    const mib = (b: number) => (b / 2 ** 20).toFixed(1);
    console.error(`${output}: ${[...counts].map(([k, n]) => `${n}× ${k}`).join(', ')}; ${mib(r.bytesIn)} MiB → ${mib(r.bytesOut)} MiB of tensors in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
  },
};
