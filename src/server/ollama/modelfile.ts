/**
 * Ollama's Modelfile, the subset /api/create's legacy `modelfile` field and /api/show need:
 *   FROM <model name or GGUF path>
 *   TEMPLATE """…"""      SYSTEM """…"""      (or a single-line value)
 *   PARAMETER <name> <value>   (repeatable; `stop` accumulates)
 *   LICENSE """…"""     (repeatable; the texts are joined by a blank line)
 * Other instructions (ADAPTER, MESSAGE) are rejected with a clear error.
 */
import { badRequest } from '../errors.ts';
import type { ModelSettings } from '../store.ts';

export interface Modelfile extends ModelSettings {
  from?: string;
}

/** A PARAMETER value: numbers as numbers, true/false as booleans, the rest as strings (quotes removed). */
function paramValue(v: string): unknown {
  const s = v.trim().replace(/^"(.*)"$/s, '$1');
  if (/^-?\d+(\.\d+)?(e-?\d+)?$/i.test(s)) return Number(s);
  if (s === 'true' || s === 'false') return s === 'true';
  return s;
}

/** @throws HttpError 400 naming the line. */
export function parseModelfile(text: string): Modelfile {
  const out: Modelfile = {};
  const params: Record<string, unknown> = {};
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(\w+)\s+([\s\S]*)$/.exec(line);
    if (!m) throw badRequest(`modelfile line ${i + 1}: expected INSTRUCTION value`);
    const instr = m[1].toUpperCase();
    let value = m[2];
    if (value.startsWith('"""')) {
      value = value.slice(3);
      while (!value.includes('"""')) {
        if (++i >= lines.length) throw badRequest(`modelfile: unterminated """ in ${instr}`);
        value += '\n' + lines[i];
      }
      value = value.slice(0, value.indexOf('"""'));
    }
    if (instr === 'FROM') out.from = value.trim();
    else if (instr === 'TEMPLATE') out.template = value;
    else if (instr === 'SYSTEM') out.system = value;
    else if (instr === 'LICENSE') out.license = out.license === undefined ? value : `${out.license}\n\n${value}`;
    else if (instr === 'PARAMETER') {
      const p = /^(\w+)\s+([\s\S]+)$/.exec(value.trim());
      if (!p) throw badRequest(`modelfile line ${i + 1}: PARAMETER needs a name and a value`);
      if (p[1] === 'stop') params.stop = [...((params.stop as string[]) ?? []), String(paramValue(p[2]))];
      else params[p[1]] = paramValue(p[2]);
    } else throw badRequest(`modelfile line ${i + 1}: ${instr} is not supported (FROM, TEMPLATE, SYSTEM, PARAMETER, LICENSE are)`);
  }
  if (Object.keys(params).length) out.parameters = params;
  return out;
}

const quote = (s: string) => `"""${s}"""`;

/** The Modelfile text /api/show returns. */
export function formatModelfile(from: string, s: ModelSettings): string {
  const lines = [`FROM ${from}`];
  if (s.template) lines.push(`TEMPLATE ${quote(s.template)}`);
  if (s.system) lines.push(`SYSTEM ${quote(s.system)}`);
  if (s.license) lines.push(`LICENSE ${quote(s.license)}`);
  for (const [k, v] of Object.entries(s.parameters ?? {})) {
    for (const x of Array.isArray(v) ? v : [v]) lines.push(`PARAMETER ${k} ${typeof x === 'string' ? JSON.stringify(x) : String(x)}`);
  }
  return lines.join('\n') + '\n';
}

/** Ollama's `parameters` string in /api/show: one "name value" per line. */
export function formatParameters(p: Record<string, unknown> | undefined): string {
  const lines: string[] = [];
  for (const [k, v] of Object.entries(p ?? {})) for (const x of Array.isArray(v) ? v : [v]) lines.push(`${k.padEnd(30)} ${typeof x === 'string' ? JSON.stringify(x) : String(x)}`);
  return lines.join('\n');
}
