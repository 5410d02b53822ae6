/**
 * Streaming stop-string matcher. Text arrives in pieces (one per token); `push` emits what can no
 * longer be part of a stop string and holds back the longest suffix that is still a prefix of
 * one. On a match it emits the text before the earliest stop string and reports `stopped`; the
 * stop string itself is never emitted (as Ollama). Matching is on UTF-16 code units, exact.
 *
 * @example
 *   const m = new StopMatcher(['</s>']);
 *   m.push('Hello</');  // { emit: 'Hello', stopped: false }
 *   m.push('s> more');  // { emit: '', stopped: true }
 */
export interface StopResult {
  /** Text that is safe to send to the client now. */
  emit: string;
  /** True once a stop string has been seen; later pushes emit nothing. */
  stopped: boolean;
}

export class StopMatcher {
  private readonly stops: readonly string[];
  /** Every proper, non-empty prefix of every stop string. */
  private readonly prefixes: ReadonlySet<string>;
  /** Longest stop string length − 1: the most text that can be held back. */
  private readonly maxHold: number;
  private held = '';
  private done = false;

  /** @param stops stop strings; empty strings are ignored. */
  constructor(stops: readonly string[]) {
    this.stops = stops.filter((s) => s.length > 0);
    const prefixes = new Set<string>();
    let maxHold = 0;
    for (const s of this.stops) {
      for (let len = 1; len < s.length; len++) prefixes.add(s.slice(0, len));
      maxHold = Math.max(maxHold, s.length - 1);
    }
    this.prefixes = prefixes;
    this.maxHold = maxHold;
  }

  /** True once a stop string matched. */
  get stopped(): boolean {
    return this.done;
  }

  push(text: string): StopResult {
    if (this.done) return { emit: '', stopped: true };
    if (this.stops.length === 0) return { emit: text, stopped: false };
    const buf = this.held + text;
    // earliest occurrence of any stop string (held text is shorter than every stop, so a match
    // can start inside it but not be contained in it: no match is missed or found twice)
    let at = -1;
    for (const s of this.stops) {
      const i = buf.indexOf(s);
      if (i >= 0 && (at < 0 || i < at)) at = i;
    }
    if (at >= 0) {
      this.done = true;
      this.held = '';
      return { emit: buf.slice(0, at), stopped: true };
    }
    const hold = this.holdLength(buf);
    this.held = buf.slice(buf.length - hold);
    return { emit: buf.slice(0, buf.length - hold), stopped: false };
  }

  /** End of generation without a stop: returns the held-back text. */
  flush(): string {
    const rest = this.done ? '' : this.held;
    this.held = '';
    return rest;
  }

  /** Length of the longest suffix of buf that is a proper prefix of some stop string. */
  private holdLength(buf: string): number {
    for (let len = Math.min(this.maxHold, buf.length); len > 0; len--) {
      if (this.prefixes.has(buf.slice(buf.length - len))) return len;
    }
    return 0;
  }
}
