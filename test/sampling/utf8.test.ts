import { describe, expect, it } from 'vitest';
import { TextStream } from '../../src/sampling/text-stream.ts';
import { Utf8Stream } from '../../src/sampling/utf8.ts';
import { mulberry32 } from './helpers.ts';

const enc = new TextEncoder();

describe('Utf8Stream', () => {
  it('an emoji split byte by byte comes out whole, once', () => {
    const s = new Utf8Stream();
    const bytes = enc.encode('😀'); // F0 9F 98 80
    expect(bytes.length).toBe(4);
    const out = Array.from(bytes, (b) => s.push(Uint8Array.of(b)));
    expect(out).toEqual(['', '', '', '😀']);
    expect(s.flush()).toBe('');
  });

  it('random multilingual text split at random byte positions round-trips, never emitting a broken char', () => {
    const rand = mulberry32(3);
    const alphabet = ['a', 'é', 'ß', '€', '你', '好', '😀', '👍🏽', '\n', 'Ω', '\u{1F600}', '\uFEFF'];
    for (let trial = 0; trial < 300; trial++) {
      let text = '';
      const len = Math.floor(rand() * 40);
      for (let i = 0; i < len; i++) text += alphabet[Math.floor(rand() * alphabet.length)];
      const bytes = enc.encode(text);
      const s = new Utf8Stream();
      let out = '';
      for (let i = 0; i < bytes.length; ) {
        const n = Math.floor(rand() * 5); // includes empty pushes
        const piece = s.push(bytes.subarray(i, i + n));
        expect(piece).not.toMatch(/\uFFFD|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/);
        out += piece;
        i += n;
      }
      out += s.flush();
      expect(out).toBe(text); // includes a leading U+FEFF, which is kept
    }
  });

  it('an incomplete tail at the end becomes U+FFFD; invalid bytes too', () => {
    const s = new Utf8Stream();
    expect(s.push(Uint8Array.of(0x61, 0xe4, 0xbd))).toBe('a');
    expect(s.flush()).toBe('\uFFFD');
    expect(new Utf8Stream().push(Uint8Array.of(0xff, 0x62))).toBe('\uFFFDb');
  });
});

describe('TextStream (bytes → text → stop strings)', () => {
  it('a stop string that arrives byte by byte inside multi-byte characters', () => {
    const t = new TextStream(['。終']);
    let out = '';
    for (const b of enc.encode('はい。終わり')) {
      const r = t.push(Uint8Array.of(b));
      out += r.emit;
      if (r.stopped) break;
    }
    expect(out).toBe('はい');
    expect(t.stopped).toBe(true);
    expect(t.flush()).toBe('');
  });

  it('flush releases held-back text and a broken tail', () => {
    const t = new TextStream(['STOP']);
    expect(t.push(enc.encode('abc ST'))).toEqual({ emit: 'abc ', stopped: false });
    expect(t.push(Uint8Array.of(0xf0, 0x9f))).toEqual({ emit: '', stopped: false });
    expect(t.flush()).toBe('ST\uFFFD');
  });
});
