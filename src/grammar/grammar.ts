/**
 * A byte-level context-free grammar, the form every constraint compiles to (JSON Schema, format "json",
 * the tool-call envelope). Like llama.cpp's GBNF after parsing, but over UTF-8 bytes instead of code points,
 * so that tokens holding part of a character need no special case.
 *
 * Layout (flat, so the matcher walks integer arrays):
 *   kind[p], arg[p]   element p of some alternative: BYTES (arg = byte-set id), REF (arg = rule id) or END
 *                     (arg unused) closing the alternative. An alternative is the run p, p+1, … up to its END.
 *   rules[r]          start positions of rule r's alternatives.
 *   sets[i]           Uint8Array(256): 1 where byte b belongs to byte set i.
 *
 * Grammars are built with `GrammarBuilder`, which interns byte sets and identical anonymous rules.
 * Repetition is right-recursive (`x*` is `R ::= x R | ε`), never left-recursive, so the matcher's closure
 * terminates; the builder has no way to write left recursion except by hand through `define`.
 */

export const BYTES = 0;
export const REF = 1;
export const END = 2;

/** One element of a sequence: a set of bytes, or a reference to a rule. */
export type Elem = { set: number } | { rule: number };
/** A sequence of elements (one alternative). */
export type Seq = Elem[];

export interface Grammar {
  readonly kind: Uint8Array;
  readonly arg: Int32Array;
  readonly rules: readonly Int32Array[];
  readonly ruleNames: readonly string[];
  readonly sets: readonly Uint8Array[];
  readonly root: number;
}

const utf8 = new TextEncoder();

export class GrammarBuilder {
  private readonly kind: number[] = [];
  private readonly arg: number[] = [];
  private readonly rules: (number[] | null)[] = [];
  private readonly names: string[] = [];
  private readonly sets: Uint8Array[] = [];
  private readonly setIds = new Map<string, number>();
  private readonly anon = new Map<string, number>();

  /** Reserve a rule id (define it later; lets rules refer to each other recursively). */
  declare(name: string): number {
    this.rules.push(null);
    this.names.push(name);
    return this.rules.length - 1;
  }

  /** Give a declared rule its alternatives. */
  define(rule: number, alts: Seq[]): number {
    if (this.rules[rule] !== null) throw new Error(`grammar rule ${this.names[rule]} defined twice`);
    const starts: number[] = [];
    for (const seq of alts) {
      starts.push(this.kind.length);
      for (const e of seq) {
        if ('set' in e) {
          this.kind.push(BYTES);
          this.arg.push(e.set);
        } else {
          this.kind.push(REF);
          this.arg.push(e.rule);
        }
      }
      this.kind.push(END);
      this.arg.push(0);
    }
    this.rules[rule] = starts;
    return rule;
  }

  /** A rule with these alternatives, shared with any earlier rule that has exactly the same ones. */
  alt(name: string, alts: Seq[]): Elem {
    const key = JSON.stringify(alts);
    let id = this.anon.get(key);
    if (id === undefined) {
      id = this.define(this.declare(name), alts);
      this.anon.set(key, id);
    }
    return { rule: id };
  }

  /** Interned byte set from a predicate or a list of inclusive [lo, hi] byte ranges. */
  set(ranges: readonly (readonly [number, number])[]): Elem {
    const bits = new Uint8Array(256);
    for (const [lo, hi] of ranges) for (let b = lo; b <= hi; b++) bits[b] = 1;
    const key = bits.join('');
    let id = this.setIds.get(key);
    if (id === undefined) {
      id = this.sets.length;
      this.sets.push(bits);
      this.setIds.set(key, id);
    }
    return { set: id };
  }

  byte(b: number): Elem {
    return this.set([[b, b]]);
  }

  /** The UTF-8 bytes of `text`, one element each. */
  lit(text: string): Seq {
    return Array.from(utf8.encode(text), (b) => this.byte(b));
  }

  /** `seq` or nothing. */
  opt(seq: Seq): Elem {
    return this.alt('opt', [seq, []]);
  }

  /** `seq` repeated min..max times (max = Infinity: unbounded), as a sequence. */
  repeat(seq: Seq, min: number, max: number): Seq {
    const out: Seq = [];
    for (let i = 0; i < min; i++) out.push(...seq);
    if (max === Infinity) {
      const r = this.declare('star');
      this.define(r, [[...seq, { rule: r }], []]);
      out.push({ rule: r });
    } else if (max > min) {
      // x{0,k} = (x (x (…)?)?)? built from the inside out.
      let tail: Elem = this.opt(seq);
      for (let i = 1; i < max - min; i++) tail = this.opt([...seq, tail]);
      out.push(tail);
    }
    return out;
  }

  /**
   * One Unicode scalar value from the inclusive code-point ranges `ranges` (surrogates never match),
   * as alternatives of byte sequences: the UTF-8 encoding split into byte ranges.
   */
  chars(name: string, ranges: readonly (readonly [number, number])[]): Elem {
    const alts: Seq[] = [];
    for (const [lo, hi] of ranges) {
      for (const seq of utf8Sequences(lo, hi)) alts.push(seq.map(([a, b]) => this.set([[a, b]])));
    }
    return alts.length === 1 && alts[0].length === 1 ? alts[0][0] : this.alt(name, alts);
  }

  build(root: number): Grammar {
    const rules = this.rules.map((r, i) => {
      if (r === null) throw new Error(`grammar rule ${this.names[i]} declared but never defined`);
      return Int32Array.from(r);
    });
    return { kind: Uint8Array.from(this.kind), arg: Int32Array.from(this.arg), rules, ruleNames: this.names.slice(), sets: this.sets.slice(), root };
  }
}

/**
 * The UTF-8 encodings of code points lo..hi (inclusive) as sequences of byte ranges, each sequence a
 * product of ranges ("[E1-EC][80-BF][80-BF]"). Surrogates D800–DFFF are left out. The splitting is the one
 * of Rust regex-syntax's Utf8Sequences: cut at encoding-length boundaries, then wherever lo and hi differ
 * in a prefix while a lower part is not full.
 */
export function utf8Sequences(lo: number, hi: number): [number, number][][] {
  const out: [number, number][][] = [];
  const work: [number, number][] = [[lo, hi]];
  while (work.length > 0) {
    let [a, b] = work.pop()!;
    if (a > b) continue;
    // Drop surrogates.
    if (a <= 0xdfff && b >= 0xd800) {
      work.push([0xe000, b]);
      b = 0xd7ff;
      if (a > b) continue;
    }
    // Encoding-length boundaries.
    let split = false;
    for (const max of [0x7f, 0x7ff, 0xffff]) {
      if (a <= max && b > max) {
        work.push([max + 1, b]);
        work.push([a, max]);
        split = true;
        break;
      }
    }
    if (split) continue;
    const n = a <= 0x7f ? 1 : a <= 0x7ff ? 2 : a <= 0xffff ? 3 : 4;
    for (let i = 1; i < n; i++) {
      const m = (1 << (6 * i)) - 1;
      if ((a & ~m) !== (b & ~m)) {
        if ((a & m) !== 0) {
          work.push([(a | m) + 1, b]);
          work.push([a, a | m]);
          split = true;
          break;
        }
        if ((b & m) !== m) {
          work.push([b & ~m, b]);
          work.push([a, (b & ~m) - 1]);
          split = true;
          break;
        }
      }
    }
    if (split) continue;
    const ea = encode(a);
    const eb = encode(b);
    out.push(ea.map((x, i) => [x, eb[i]]));
  }
  return out;
}

function encode(cp: number): number[] {
  return Array.from(utf8.encode(String.fromCodePoint(cp)));
}
