/** `tessera show MODEL`: a model's details (POST /api/show); flags print one part as Ollama's CLI does. */
import { parseArgs } from 'node:util';
import { UsageError } from './args.ts';
import { callJson, httpFetcher } from './client.ts';
import type { Command } from './command.ts';

interface Show {
  modelfile: string;
  parameters: string;
  template: string;
  system: string;
  license?: string;
  details: { family?: string; parameter_size?: string; quantization_level?: string };
  model_info: Record<string, unknown>;
  capabilities: string[];
}

const HELP = `usage: tessera show MODEL [--modelfile | --parameters | --template | --system | --license]

Shows a model's architecture, size, quantization, context length and capabilities; a flag prints only that part.`;

export const show: Command = {
  name: 'show',
  summary: "show a model's details, Modelfile, parameters, template or system prompt",
  help: HELP,
  async run(args) {
    const { values, positionals } = parseArgs({ args, allowPositionals: true, options: { modelfile: { type: 'boolean' }, parameters: { type: 'boolean' }, template: { type: 'boolean' }, system: { type: 'boolean' }, license: { type: 'boolean' } } });
    if (positionals.length !== 1) throw new UsageError('show: expected one MODEL', HELP);
    const s = await callJson<Show>(httpFetcher(), 'POST', '/api/show', { model: positionals[0] });
    if (values.modelfile) return print(s.modelfile);
    if (values.parameters) return print(s.parameters);
    if (values.template) return print(s.template);
    if (values.system) return print(s.system);
    if (values.license) return print(s.license ?? '');
    const arch = String(s.details.family ?? s.model_info['general.architecture'] ?? '');
    const rows: [string, unknown][] = [
      ['architecture', arch],
      ['parameters', s.details.parameter_size],
      ['context length', s.model_info[`${arch}.context_length`]],
      ['embedding length', s.model_info[`${arch}.embedding_length`]],
      ['quantization', s.details.quantization_level],
    ];
    const out = ['  Model', ...rows.filter(([, v]) => v !== undefined && v !== '').map(([k, v]) => `    ${k.padEnd(20)}${v}`), '', '  Capabilities', ...s.capabilities.map((c) => `    ${c}`)];
    if (s.parameters) out.push('', '  Parameters', ...s.parameters.split('\n').map((l) => `    ${l}`));
    if (s.system) out.push('', '  System', ...s.system.split('\n').map((l) => `    ${l}`));
    console.log(out.join('\n'));
    return 0;
  },
};

function print(s: string): number {
  console.log(s);
  return 0;
}
