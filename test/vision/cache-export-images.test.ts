/**
 * `tessera cache export` (the built CLI) includes the image cache's entries: an engine with a projector and a
 * filesystem image storage answers a request with an image in session 'look'; the export of `img/e/` gives a
 * .safetensors file that an independent reader (python3, test/storage/safetensors_read.py) parses, with
 * `pixels` F32 [1, 3, 32, 32] and `embeddings` F32 [1, 16, 64] whose values equal a separate encode of the image
 * (its own backend and ImageCache, within 1e-6), `image_sha256` the sha256 of the bytes (node:crypto), and the
 * session; --session filters the image entries too.
 */
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WasmBackend } from '../../src/backend/wasm/backend.ts';
import { WasmCore } from '../../src/backend/wasm/core.ts';
import { createEngine } from '../../src/engine.ts';
import { openGguf } from '../../src/gguf/reader.ts';
import { FsStorage } from '../../src/storage/fs.ts';
import { MemoryStorage } from '../../src/storage/memory.ts';
import { ImageCache } from '../../src/vision/cache.ts';
import { VisionEncoder } from '../../src/vision/encoder/index.ts';
import { buildPng, pattern } from './images.ts';
import { N_EMBD, N_SOFT, writeGemma3Vision, type VisionFiles } from './vision-model.ts';

const ROOT = join(import.meta.dirname, '../..');
const CLI = join(ROOT, 'dist/src/cli/main.js');
const PY = join(ROOT, 'test/storage/safetensors_read.py');
const python = ['python3', '/usr/bin/python3'].find((p) => {
  try {
    execFileSync(p, ['-c', 'import json, struct, hashlib'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});
const work = mkdtempSync(join(tmpdir(), 'tessera-img-export-'));
const store = join(work, 'cache');
afterAll(() => rmSync(work, { recursive: true, force: true }));

const cli = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, TESSERA_HOME: work }, maxBuffer: 64 << 20 }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });

const IMG = buildPng(40, 30, 2, pattern(40, 30));
let files: VisionFiles;

describe.skipIf(!existsSync(CLI) || !python)('tessera cache export: image entries (needs dist/ and python3)', () => {
  beforeAll(async () => {
    files = await writeGemma3Vision(work);
    const st = await FsStorage.open(store);
    const e = await createEngine({ model: files.model, projector: files.projector, threads: 1, backend: 'wasm', tune: false, numCtx: 128, imageCache: { storage: st } });
    for await (const _ of e.generate({ prompt: 'hello', images: [IMG], session: 'look', options: { temperature: 0, num_predict: 2 } }));
    await e.close();
    await st.close();
  }, 60_000);

  it('exports the image entry as .safetensors with the documented tensors, values and metadata', async () => {
    const out = join(work, 'export');
    const ex = await cli(['cache', 'export', '--storage', store, '--out', out, '--prefix', 'img/e/']);
    expect(ex.code, ex.stderr).toBe(0);
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8'));
    expect(index.entries).toHaveLength(1);
    const py = JSON.parse(execFileSync(python!, [PY, 'read', join(out, index.entries[0].file)], { encoding: 'utf8', maxBuffer: 64 << 20 }));
    expect(py.tensors.pixels).toMatchObject({ dtype: 'F32', shape: [1, 3, 32, 32] });
    expect(py.tensors.embeddings).toMatchObject({ dtype: 'F32', shape: [1, N_SOFT, N_EMBD] });
    expect(py.metadata.image_sha256).toBe(createHash('sha256').update(IMG).digest('hex'));
    expect(py.metadata.session).toBe('look');
    expect(JSON.parse(py.metadata.grid)).toMatchObject({ rows: 1, cols: 1 });
    // The values: a separate encode of the same image.
    const be = await WasmBackend.create({ threads: 1 });
    try {
      const enc = await VisionEncoder.load(await openGguf(files.projector), be);
      const ref = await new ImageCache({ encoder: enc, storage: new MemoryStorage(), core: await WasmCore.load() }).encode(IMG, 'ref');
      const got = py.tensors.embeddings.values as number[];
      let d = 0;
      for (let i = 0; i < got.length; i++) d = Math.max(d, Math.abs(got[i]! - ref.embeddings[i]!));
      expect(d).toBeLessThanOrEqual(1e-6);
      expect(got.length).toBe(ref.embeddings.length);
    } finally {
      await be.close();
    }
    const ls = await cli(['cache', 'ls', '--storage', store, '--json', '--session', 'look']);
    expect(JSON.parse(ls.stdout).map((r: { key: string }) => r.key)).toEqual([index.entries[0].key]);
  }, 60_000);
});
