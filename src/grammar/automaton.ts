/**
 * The matcher: a pushdown automaton over a `Grammar`, determinised lazily into a byte DFA.
 *
 * A *stack* is llama.cpp's grammar stack: the positions still to match, innermost first; its top is always a
 * BYTES element. Stacks are interned persistent lists (node = top position + parent node), so that the many
 * stacks sharing an outer context share its nodes, and equal stacks have equal ids. Returning from a rule
 * whose caller has nothing left (a right-recursive repetition) does not push a return position
 * (tail call), so `x*` runs in constant stack depth.
 *
 * A *state* is the set of stacks alive after some input, plus whether the input so far is a complete
 * sentence. States are interned too, and each state's 256 successors are computed on first use and kept
 * (Int32Array, -2 unknown, -1 dead). After warm-up, advancing over a byte is one array load: that is what
 * lets the token mask walk a whole vocabulary trie per step.
 *
 * `distance(state)`: the fewest bytes that complete a sentence from the state (0 when it is complete). Every
 * byte being a token in byte-level BPE and SPM-with-byte-fallback vocabularies, this also bounds the tokens
 * needed, which is what the generation budget uses.
 */
import { BYTES, END, REF, type Grammar } from './grammar.ts';
import { GrammarError } from './errors.ts';

const UNKNOWN = -2;
export const DEAD = -1;

/** Safety net for grammars written by hand with an ε-cycle (the builders never make one). */
const MAX_CLOSURE_DEPTH = 10_000;

export class GrammarAutomaton {
  readonly grammar: Grammar;
  /** Stack nodes: top position and parent node (-1: the bottom). */
  private nodePos: number[] = [];
  private nodeParent: number[] = [];
  private nodeDist: number[] = [];
  private readonly nodeIds = new Map<number, number>();
  /** States: their stacks (sorted ids) and whether they accept. */
  private readonly stateStacks: Int32Array[] = [];
  private readonly stateAccept: boolean[] = [];
  /** Per state: fewest bytes to complete (read directly by the mask walk; use `distance`). */
  readonly stateDist: number[] = [];
  private readonly stateIds = new Map<string, number>();
  /** [n_states × 256] successor of (state, byte); UNKNOWN until computed, DEAD when no stack survives. */
  trans: Int32Array = new Int32Array(256 * 64).fill(UNKNOWN);
  /** Per position p: the fewest bytes that finish the alternative from p (p's element included). */
  private readonly suffixMin: Float64Array;
  /** The start state. */
  readonly start: number;

  constructor(grammar: Grammar) {
    this.grammar = grammar;
    this.suffixMin = minLengths(grammar);
    if (!grammar.rules[grammar.root].some((p) => Number.isFinite(this.suffixMin[p]))) {
      throw new GrammarError('the grammar accepts no finite text (a required value refers to itself)');
    }
    const ready = new Set<number>();
    let accept = false;
    for (const q of grammar.rules[grammar.root]) accept = this.closure(this.node(q, -1), ready, 0) || accept;
    this.start = this.intern(ready, accept);
  }

  /** Number of states built so far (grows lazily). */
  get size(): number {
    return this.stateStacks.length;
  }

  accepts(state: number): boolean {
    return this.stateAccept[state];
  }

  /** True when no byte can follow: the sentence is complete and cannot grow. */
  isFinal(state: number): boolean {
    return this.stateStacks[state].length === 0;
  }

  /** Fewest bytes that complete a sentence from `state` (0 if it accepts). */
  distance(state: number): number {
    return this.stateDist[state];
  }

  /** Successor of `state` on byte `b`, or DEAD. */
  step(state: number, b: number): number {
    const t = this.trans[state * 256 + b];
    return t !== UNKNOWN ? t : this.compute(state, b);
  }

  /** Successor of `state` after `bytes[from..to)`, or DEAD. */
  walk(state: number, bytes: Uint8Array, from = 0, to = bytes.length): number {
    let s = state;
    for (let i = from; i < to && s >= 0; i++) s = this.step(s, bytes[i]);
    return s;
  }

  /** Fills in trans[state][b]; called on the first visit only. */
  compute(state: number, b: number): number {
    const { arg, sets } = this.grammar;
    const ready = new Set<number>();
    let accept = false;
    for (const s of this.stateStacks[state]) {
      const p = this.nodePos[s];
      if (sets[arg[p]][b] === 1) accept = this.advance(p, this.nodeParent[s], ready) || accept;
    }
    const next = ready.size === 0 && !accept ? DEAD : this.intern(ready, accept);
    this.trans[state * 256 + b] = next;
    return next;
  }

  /** After matching position p of a stack with parent `parent`: move to p+1 and close. */
  private advance(p: number, parent: number, ready: Set<number>): boolean {
    return this.closure(this.node(p + 1, parent), ready, 0);
  }

  /** Expands stack `s` until every resulting stack tops at BYTES; adds them to `ready`. Returns true if some path empties the stack. */
  private closure(s: number, ready: Set<number>, depth: number): boolean {
    if (depth > MAX_CLOSURE_DEPTH) throw new GrammarError('grammar expansion does not terminate (ε-cycle or left recursion)');
    const { kind, arg, rules } = this.grammar;
    const p = this.nodePos[s];
    const k = kind[p];
    if (k === BYTES) {
      ready.add(s);
      return false;
    }
    const parent = this.nodeParent[s];
    if (k === END) return parent === -1 ? true : this.closure(parent, ready, depth + 1);
    // REF: push the rule's alternatives above the return position (none when the caller ends there).
    const ret = kind[p + 1] === END ? parent : this.node(p + 1, parent);
    let accept = false;
    for (const q of rules[arg[p]]) accept = this.closure(this.node(q, ret), ready, depth + 1) || accept;
    return accept;
  }

  private node(pos: number, parent: number): number {
    const key = (parent + 1) * this.grammar.kind.length + pos;
    let id = this.nodeIds.get(key);
    if (id === undefined) {
      id = this.nodePos.length;
      this.nodePos.push(pos);
      this.nodeParent.push(parent);
      this.nodeDist.push(this.suffixMin[pos] + (parent === -1 ? 0 : this.nodeDist[parent]));
      this.nodeIds.set(key, id);
    }
    return id;
  }

  private intern(ready: Set<number>, accept: boolean): number {
    const stacks = Int32Array.from(ready).sort();
    const key = stacks.join(',') + (accept ? 'A' : '');
    let id = this.stateIds.get(key);
    if (id === undefined) {
      id = this.stateStacks.length;
      this.stateStacks.push(stacks);
      this.stateAccept.push(accept);
      let d = accept ? 0 : Infinity;
      for (const s of stacks) d = Math.min(d, this.nodeDist[s]);
      this.stateDist.push(d);
      this.stateIds.set(key, id);
      if ((id + 1) * 256 > this.trans.length) {
        const grown = new Int32Array(this.trans.length * 2).fill(UNKNOWN);
        grown.set(this.trans);
        this.trans = grown;
      }
    }
    return id;
  }
}

/**
 * suffixMin[p] for every position: bytes to finish p's alternative from p. A rule's minimum is the least over
 * its alternatives; recursion is solved by iterating to the fixed point (values only decrease).
 * Infinity marks a rule with no finite derivation.
 */
function minLengths(g: Grammar): Float64Array {
  const n = g.kind.length;
  const suffix = new Float64Array(n).fill(Infinity);
  const ruleMin = new Float64Array(g.rules.length).fill(Infinity);
  for (let changed = true; changed; ) {
    changed = false;
    for (let p = n - 1; p >= 0; p--) {
      const k = g.kind[p];
      const v = k === END ? 0 : (k === BYTES ? 1 : ruleMin[g.arg[p]]) + suffix[p + 1];
      if (v < suffix[p]) {
        suffix[p] = v;
        changed = true;
      }
    }
    for (let r = 0; r < g.rules.length; r++) {
      for (const q of g.rules[r]) {
        if (suffix[q] < ruleMin[r]) {
          ruleMin[r] = suffix[q];
          changed = true;
        }
      }
    }
  }
  return suffix;
}
