import { describe, expect, it } from 'vitest';
import { StopMatcher } from '../../src/sampling/stop.ts';
import { mulberry32 } from './helpers.ts';

/** Reference: the text before the earliest occurrence of any stop string. */
function reference(text: string, stops: string[]): { out: string; stopped: boolean } {
  let at = -1;
  for (const s of stops) {
    if (s === '') continue;
    const i = text.indexOf(s);
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  return at < 0 ? { out: text, stopped: false } : { out: text.slice(0, at), stopped: true };
}

/** Feed `pieces`, checking the streaming invariants after each push; returns all emitted text. */
function feed(m: StopMatcher, pieces: string[], stops: string[]): { out: string; stopped: boolean } {
  const maxHold = Math.max(0, ...stops.map((s) => s.length - 1));
  let out = '';
  let consumed = '';
  let stopped = false;
  for (const p of pieces) {
    consumed += p;
    const r = m.push(p);
    out += r.emit;
    if (r.stopped) {
      stopped = true;
      break;
    }
    // never emits text that the final answer would not contain
    expect(reference(consumed, stops).out.startsWith(out)).toBe(true);
    // holds back no more than the longest stop minus one character
    expect(consumed.length - out.length).toBeLessThanOrEqual(maxHold);
  }
  if (!stopped) out += m.flush();
  return { out, stopped };
}

function randomSplit(text: string, rand: () => number): string[] {
  const pieces: string[] = [];
  let i = 0;
  while (i < text.length) {
    const len = 1 + Math.floor(rand() * 4);
    pieces.push(text.slice(i, i + len));
    i += len;
  }
  return pieces;
}

describe('StopMatcher', () => {
  it('a stop string split across many pushes', () => {
    const m = new StopMatcher(['<|im_end|>']);
    const pieces = ['Hello', ' <', '|', 'im', '_', 'end', '|', '>', ' ignored'];
    expect(feed(m, pieces, ['<|im_end|>'])).toEqual({ out: 'Hello ', stopped: true });
    expect(m.push('more')).toEqual({ emit: '', stopped: true });
    expect(m.flush()).toBe('');
  });

  it('releases held text when the candidate fails, and at flush', () => {
    const m = new StopMatcher(['</s>']);
    expect(m.push('a</')).toEqual({ emit: 'a', stopped: false });
    expect(m.push('x')).toEqual({ emit: '</x', stopped: false });
    expect(m.push('<')).toEqual({ emit: '', stopped: false });
    expect(m.flush()).toBe('<');
  });

  it('overlapping candidates: a failed candidate can contain the start of the real match', () => {
    const stops = ['aab'];
    expect(feed(new StopMatcher(stops), ['a', 'a', 'a', 'b', 'c'], stops)).toEqual({ out: 'a', stopped: true });
    const stops2 = ['abcd', 'bce'];
    expect(feed(new StopMatcher(stops2), ['a', 'b', 'c', 'e'], stops2)).toEqual({ out: 'a', stopped: true });
  });

  it('multiple stops: the earliest occurrence wins, whatever the list order', () => {
    const stops = ['World', 'lo'];
    expect(feed(new StopMatcher(stops), ['Hello World'], stops)).toEqual({ out: 'Hel', stopped: true });
    expect(feed(new StopMatcher(['b', 'abc']), ['xabc'], ['b', 'abc'])).toEqual({ out: 'x', stopped: true });
  });

  it('unicode stop strings (surrogate pairs, CJK)', () => {
    const stops = ['😀!', '。'];
    expect(feed(new StopMatcher(stops), ['Hi ', '😀', '?', ' ok ', '😀', '!', 'x'], stops)).toEqual({
      out: 'Hi 😀? ok ',
      stopped: true,
    });
    expect(feed(new StopMatcher(stops), ['你好', '世界', '。', '再见'], stops)).toEqual({ out: '你好世界', stopped: true });
  });

  it('no stops: passes text through', () => {
    const m = new StopMatcher([]);
    expect(m.push('abc')).toEqual({ emit: 'abc', stopped: false });
    expect(m.flush()).toBe('');
  });

  it('random texts and splits agree with the reference', () => {
    const rand = mulberry32(11);
    const stopSets = [['ab'], ['aba', 'bab'], ['abc', 'bca', 'cab', 'aaaa'], ['a'], ['cc', 'ccc', 'acb']];
    for (let trial = 0; trial < 2000; trial++) {
      const stops = stopSets[trial % stopSets.length]!;
      const len = Math.floor(rand() * 30);
      let text = '';
      for (let i = 0; i < len; i++) text += 'abc'[Math.floor(rand() * 3)];
      const got = feed(new StopMatcher(stops), randomSplit(text, rand), stops);
      expect(got).toEqual(reference(text, stops));
    }
  });
});
