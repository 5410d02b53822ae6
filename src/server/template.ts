/**
 * Prompt templates given by /api/generate's `template` or a model's TEMPLATE (from /api/create).
 *
 * Two kinds are accepted:
 * - Jinja (contains `{%` or `messages`): rendered as a chat template over the messages.
 * - Ollama's legacy Go templates, the subset they use: `{{ .System }}`, `{{ .Prompt }}`, `{{ .Response }}`,
 *   `{{ if .X }}…{{ else }}…{{ end }}`, and `{{-` / `-}}` whitespace trimming. Chats are rendered one
 *   user turn at a time (with the system text on the first), as Ollama does for such templates.
 *   Anything else inside `{{ }}` (range over .Messages, functions) is a TemplateError: use Jinja for those.
 */
import { TesseraError } from '../errors.ts';
import type { ChatMessage } from '../engine.ts';
import { renderChat } from '../tokenizer/chat-template.ts';

export class TemplateError extends TesseraError {
  constructor(message: string) {
    super('invalid_argument', `template: ${message}`);
  }
}

type Vars = { System?: string; Prompt?: string; Response?: string };
type Node = { t: 'text'; v: string } | { t: 'var'; name: keyof Vars } | { t: 'if'; name: keyof Vars; then: Node[]; else: Node[] };

const VARS = new Set(['System', 'Prompt', 'Response']);

export const isJinja = (t: string) => t.includes('{%') || /\bmessages\b/.test(t);

function parse(src: string): Node[] {
  // Split into text and actions, applying {{- and -}} trimming.
  const parts: ({ text: string } | { action: string })[] = [];
  let i = 0;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    if (open < 0) {
      parts.push({ text: src.slice(i) });
      break;
    }
    let text = src.slice(i, open);
    const close = src.indexOf('}}', open);
    if (close < 0) throw new TemplateError(`unclosed action at offset ${open}`);
    let action = src.slice(open + 2, close);
    if (action.startsWith('-')) {
      text = text.replace(/\s+$/, '');
      action = action.slice(1);
    }
    let next = close + 2;
    if (action.endsWith('-')) {
      action = action.slice(0, -1);
      const m = /^\s*/.exec(src.slice(next))!;
      next += m[0].length;
    }
    parts.push({ text }, { action: action.trim() });
    i = next;
  }
  let pos = 0;
  const block = (end: boolean): { nodes: Node[]; stop: string } => {
    const nodes: Node[] = [];
    while (pos < parts.length) {
      const p = parts[pos++];
      if ('text' in p) {
        if (p.text) nodes.push({ t: 'text', v: p.text });
        continue;
      }
      const a = p.action;
      let m: RegExpExecArray | null;
      if ((m = /^\.(\w+)$/.exec(a)) && VARS.has(m[1])) nodes.push({ t: 'var', name: m[1] as keyof Vars });
      else if ((m = /^if\s+\.(\w+)$/.exec(a)) && VARS.has(m[1])) {
        const then = block(true);
        let els: Node[] = [];
        if (then.stop === 'else') els = block(true).nodes;
        nodes.push({ t: 'if', name: m[1] as keyof Vars, then: then.nodes, else: els });
      } else if (a === 'end' || a === 'else') {
        if (!end) throw new TemplateError(`unexpected {{ ${a} }}`);
        return { nodes, stop: a };
      } else if (a.startsWith('/*') || a === '') continue;
      else throw new TemplateError(`unsupported action {{ ${a.slice(0, 60)} }} (supported: .System, .Prompt, .Response, if/else/end; use a Jinja template for more)`);
    }
    if (end) throw new TemplateError('missing {{ end }}');
    return { nodes, stop: '' };
  };
  return block(false).nodes;
}

/**
 * Renders `nodes`. When `vars.Response` is undefined (the turn being generated), output stops at
 * `{{ .Response }}`, as Ollama cuts the last turn there.
 */
function exec(nodes: Node[], vars: Vars): string {
  const out = { s: '', cut: false };
  run(nodes, vars, out);
  return out.s;
}

function run(nodes: Node[], vars: Vars, out: { s: string; cut: boolean }): void {
  for (const n of nodes) {
    if (out.cut) return;
    if (n.t === 'text') out.s += n.v;
    else if (n.t === 'var') {
      if (n.name === 'Response' && vars.Response === undefined) out.cut = true;
      else out.s += vars[n.name] ?? '';
    } else run(vars[n.name] ? n.then : n.else, vars, out);
  }
}

/** Renders a legacy Go template with one turn's variables. @throws TemplateError */
export function renderGoTemplate(template: string, vars: Vars): string {
  return exec(parse(template), vars);
}

export interface TemplateTokens {
  bos: string;
  eos: string;
}

/**
 * The prompt text for `messages` under `template` (Jinja or legacy Go), ending where the assistant's
 * answer starts. @throws TemplateError for templates that fail to parse or render.
 */
export function renderMessages(template: string, messages: ChatMessage[], tokens: TemplateTokens): string {
  if (isJinja(template)) {
    try {
      return renderChat(template, messages, { addGenerationPrompt: true, bosToken: tokens.bos, eosToken: tokens.eos });
    } catch (e) {
      throw new TemplateError((e as Error).message);
    }
  }
  const nodes = parse(template);
  let out = '';
  let system: string | undefined;
  let pending: Vars | null = null;
  for (const m of messages) {
    if (m.role === 'system') system = system ? `${system}\n${m.content}` : m.content;
    else if (m.role === 'user' || m.role === 'tool') {
      if (pending) out += exec(nodes, pending);
      pending = { System: system, Prompt: m.content };
      system = undefined;
    } else if (m.role === 'assistant') {
      if (pending) {
        out += exec(nodes, { ...pending, Response: m.content });
        pending = null;
      } else out += m.content;
    }
  }
  if (pending) out += exec(nodes, pending);
  else if (system !== undefined) out += exec(nodes, { System: system });
  return out;
}
