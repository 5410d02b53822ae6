/**
 * Streaming text assembly for generation: token bytes → UTF-8 characters → stop-string matching.
 * What `push` returns is safe to send to a client immediately.
 *
 * @example
 *   const out = new TextStream(opts.stop);
 *   const { emit, stopped } = out.push(tokenBytes);   // per generated token
 *   …; const tail = out.flush();                       // at EOS / num_predict
 */
import { StopMatcher, type StopResult } from './stop.ts';
import { Utf8Stream } from './utf8.ts';

export class TextStream {
  private readonly utf8 = new Utf8Stream();
  private readonly stop: StopMatcher;

  constructor(stops: readonly string[]) {
    this.stop = new StopMatcher(stops);
  }

  /** True once a stop string matched; the caller should end generation (done_reason "stop"). */
  get stopped(): boolean {
    return this.stop.stopped;
  }

  push(bytes: Uint8Array): StopResult {
    const text = this.utf8.push(bytes);
    if (text.length === 0) return { emit: '', stopped: this.stop.stopped };
    return this.stop.push(text);
  }

  /** End of generation without a stop: the remaining text (held-back prefix, broken tail as U+FFFD). */
  flush(): string {
    const tail = this.utf8.flush();
    if (this.stop.stopped) return '';
    const r = this.stop.push(tail);
    return r.stopped ? r.emit : r.emit + this.stop.flush();
  }
}
