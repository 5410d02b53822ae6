/** Helpers for grammar tests: match whole texts, and draw random sentences straight from the automaton. */
import { GrammarAutomaton } from '../../src/grammar/automaton.ts';
import { compileJsonSchema } from '../../src/grammar/json-schema.ts';
import type { Grammar } from '../../src/grammar/grammar.ts';
import { mulberry32 } from '../helpers/mulberry32.ts';

const enc = new TextEncoder();

/** True when the whole of `text` is a sentence of the automaton. */
export function matches(a: GrammarAutomaton, text: string): boolean {
  const s = a.walk(a.start, enc.encode(text));
  return s >= 0 && a.accepts(s);
}

export function automatonOf(schema: unknown): GrammarAutomaton {
  return new GrammarAutomaton(compileJsonSchema(schema));
}

export function automatonOfGrammar(g: Grammar): GrammarAutomaton {
  return new GrammarAutomaton(g);
}

/**
 * A random sentence: uniform over the allowed next bytes until `soft` bytes, then only bytes that bring
 * the completion distance down, stopping at the first accepting state past `soft` (or with probability
 * 1/8 at an accepting state before). Bytes are UTF-8; returns the decoded text.
 */
export function randomSentence(a: GrammarAutomaton, seed: number, soft = 40): string {
  const rnd = mulberry32(seed);
  const out: number[] = [];
  let s = a.start;
  for (let guard = 0; guard < 100_000; guard++) {
    if (a.accepts(s) && (a.isFinal(s) || out.length >= soft || rnd() < 1 / 8)) break;
    const options: number[] = [];
    for (let b = 0; b < 256; b++) {
      const t = a.step(s, b);
      if (t < 0) continue;
      if (out.length >= soft && a.distance(t) >= a.distance(s)) continue;
      options.push(b);
    }
    if (options.length === 0) throw new Error(`stuck after ${JSON.stringify(new TextDecoder().decode(Uint8Array.from(out)))}`);
    const b = options[Math.floor(rnd() * options.length)];
    out.push(b);
    s = a.step(s, b);
  }
  return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(out));
}
