/**
 * Fuzz: mutate valid files (bit flips, interesting-value overwrites, truncation, insertion, deletion) with a
 * fixed seed; every parse must either succeed or throw a GgufError — never another exception, never a hang,
 * never an allocation out of proportion to the input.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mulberry32 } from '../helpers/mulberry32.ts';
import { afterAll, describe, expect, it } from 'vitest';
import { GgufError } from '../../src/gguf/errors.ts';
import { type GgufFile, openGguf, parseGguf } from '../../src/gguf/reader.ts';
import { encodeGguf } from '../../src/gguf/writer.ts';
import { seedSpecs } from './sample-files.ts';

const ITERATIONS = 10_000;
/** Every 15th mutant is also written to disk and read with openGguf in 16-byte first reads (the chunked path). */
const DISK_EVERY = 15;
const MAX_PARSE_MS = 250;

const dir = mkdtempSync(join(tmpdir(), 'tessera-gguf-fuzz-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rng = mulberry32;

const INTERESTING_U64 = [0n, 1n, 2n, 4n, 9n, 12n, 13n, 255n, 0x7fffffffn, 0xffffffffn, 0x100000000n, 2n ** 53n, 2n ** 60n, 2n ** 63n, 2n ** 64n - 1n];
const INTERESTING_U32 = [0, 1, 2, 3, 4, 5, 8, 9, 12, 13, 31, 32, 39, 99, 0x7fffffff, 0xffffffff];

function mutate(src: Uint8Array, r: () => number): Uint8Array {
  const pick = (n: number) => Math.floor(r() * n);
  let b = src.slice();
  const rounds = 1 + pick(3);
  for (let k = 0; k < rounds && b.length > 0; k++) {
    // most of the structure (counts, lengths, types) is in the first few hundred bytes: aim there more often
    const pos = r() < 0.7 ? pick(Math.min(b.length, 400)) : pick(b.length);
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    switch (pick(7)) {
      case 0: b[pos] ^= 1 << pick(8); break;
      case 1: b[pos] = [0x00, 0xff, 0x7f, 0x80, 0x01][pick(5)]; break;
      case 2: if (pos + 8 <= b.length) dv.setBigUint64(pos, INTERESTING_U64[pick(INTERESTING_U64.length)], true); break;
      case 3: if (pos + 4 <= b.length) dv.setUint32(pos, INTERESTING_U32[pick(INTERESTING_U32.length)], true); break;
      case 4: b = b.slice(0, pick(b.length)); break;
      case 5: {
        const ins = new Uint8Array(1 + pick(16)).map(() => (r() < 0.5 ? 0xff : pick(256)));
        const out = new Uint8Array(b.length + ins.length);
        out.set(b.subarray(0, pos));
        out.set(ins, pos);
        out.set(b.subarray(pos), pos + ins.length);
        b = out;
        break;
      }
      case 6: {
        const end = Math.min(b.length, pos + 1 + pick(16));
        const out = new Uint8Array(b.length - (end - pos));
        out.set(b.subarray(0, pos));
        out.set(b.subarray(end), pos);
        b = out;
        break;
      }
    }
  }
  return b;
}

/** Number of values held in the parsed metadata (array items counted), to bound allocation by input size. */
function metadataItems(f: GgufFile): number {
  const count = (v: unknown): number => (Array.isArray(v) ? v.reduce((a: number, x) => a + count(x), 1) : ArrayBuffer.isView(v) ? (v as Uint8Array).length : 1);
  let n = 0;
  for (const v of f.metadata.values()) n += count(v);
  return n + f.tensors.length;
}

type Outcome = { ok: true; kv: number; tensors: number } | { ok: false; code: string };

function parseOutcome(b: Uint8Array): Outcome {
  try {
    const f = parseGguf(b, 'fuzz.gguf');
    expect(metadataItems(f)).toBeLessThanOrEqual(b.length);
    for (const t of f.tensors) expect(t.offset + t.byteSize).toBeLessThanOrEqual(b.length);
    return { ok: true, kv: f.metadata.size, tensors: f.tensors.length };
  } catch (e) {
    if (!(e instanceof GgufError)) throw new Error(`non-GgufError thrown: ${(e as Error)?.stack ?? String(e)}`);
    expect(e.message.startsWith('fuzz.gguf: ')).toBe(true);
    return { ok: false, code: e.code };
  }
}

describe('gguf fuzz', () => {
  it(`${ITERATIONS} mutants: parse succeeds or throws GgufError, fast, bounded`, async () => {
    const seeds = seedSpecs().map((s) => encodeGguf(s).slice());
    for (const s of seeds) expect(parseOutcome(s).ok).toBe(true);
    const r = rng(0x5eed);
    const codes = new Map<string, number>();
    let ok = 0;
    let maxMs = 0;
    let diskChecked = 0;
    const rss0 = process.memoryUsage().rss;
    for (let i = 0; i < ITERATIONS; i++) {
      const m = mutate(seeds[i % seeds.length], r);
      const t0 = performance.now();
      const out = parseOutcome(m);
      maxMs = Math.max(maxMs, performance.now() - t0);
      if (out.ok) ok++;
      else codes.set(out.code, (codes.get(out.code) ?? 0) + 1);
      if (i % DISK_EVERY === 0) {
        const path = join(dir, `m${i}.gguf`);
        writeFileSync(path, m);
        let disk: Outcome;
        try {
          const f = await openGguf(path, { initialReadBytes: 16 });
          disk = { ok: true, kv: f.metadata.size, tensors: f.tensors.length };
        } catch (e) {
          if (!(e instanceof GgufError)) throw new Error(`openGguf threw a non-GgufError: ${(e as Error)?.stack}`);
          disk = { ok: false, code: e.code };
        }
        expect(disk, `mutant ${i}: openGguf (chunked) and parseGguf disagree`).toEqual(out);
        diskChecked++;
      }
    }
    const growthMb = (process.memoryUsage().rss - rss0) / 2 ** 20;
    console.log(`fuzz: ${ok} parsed, ${ITERATIONS - ok} GgufError ${JSON.stringify(Object.fromEntries(codes))}; ` +
      `max parse ${maxMs.toFixed(1)} ms; ${diskChecked} checked through openGguf; rss growth ${growthMb.toFixed(0)} MiB`);
    expect(ok).toBeGreaterThan(ITERATIONS * 0.05);
    expect(ITERATIONS - ok).toBeGreaterThan(ITERATIONS * 0.05);
    expect(codes.size).toBeGreaterThanOrEqual(5);
    expect(maxMs).toBeLessThan(MAX_PARSE_MS);
    expect(growthMb).toBeLessThan(256);
  }, 60_000);
});
