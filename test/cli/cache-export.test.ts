/**
 * `tessera cache ls|export` (the built CLI) on a filesystem storage filled by a real engine run: every KV
 * page comes out as a .safetensors file that an independent reader (python3, test/storage/safetensors_read.py)
 * parses, with the page's shape [n_layer, page_size, n_head_kv·head_dim], F16 values equal to the stored
 * bytes, and the documented metadata; --session filters on the entry's session tag; bad usage exits 2.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../../src/engine.ts';
import { FsStorage } from '../../src/storage/fs.ts';
import { tinyLlamaVocab, writeSyntheticLlama } from '../../src/synth/index.ts';

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

const cli = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
  new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env: { ...process.env, TESSERA_HOME: work } }, (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }));
  });

const work = mkdtempSync(join(tmpdir(), 'tessera-cache-cli-'));
const store = join(work, 'cache');
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe.skipIf(!existsSync(CLI) || !python)('tessera cache (needs dist/ and python3)', () => {
  beforeAll(async () => {
    const model = join(work, 'tiny.gguf');
    await writeSyntheticLlama(model, { nEmbd: 64, nLayer: 2, nHead: 2, nHeadKv: 1, nFf: 128, nCtx: 256, type: 'Q8_0', seed: 3, tokenizer: tinyLlamaVocab() });
    const st = await FsStorage.open(store);
    const e = await createEngine({ model, threads: 1, numCtx: 128, kvPageSize: 16, kvStorage: st });
    const prompt = Array.from({ length: 40 }, (_, i) => 3 + i);
    for await (const _ of e.generate({ prompt, options: { temperature: 0, num_predict: 2 } }));
    await e.kvFlush();
    await e.close();
    // An image-tensor-like entry tagged with a session, as the image cache writes them.
    await st.put('img/abc/pre', { tensors: [{ name: 'pixels', dtype: 'F32', shape: [3, 2, 2], bytes: new Uint8Array(Float32Array.from({ length: 12 }, (_, i) => i / 4).buffer) }], meta: { format: 'test-image', session: 's1' } });
    await st.close();
  }, 60_000);

  it('ls lists the pages; export writes files an independent reader parses, with shapes, values and metadata', async () => {
    const ls = await cli(['cache', 'ls', '--storage', store, '--json']);
    expect(ls.code).toBe(0);
    const rows = JSON.parse(ls.stdout) as { key: string; kind: string; bytes: number }[];
    const pages = rows.filter((r) => r.kind === 'tessera-kv-page-1');
    expect(pages.length).toBe(2); // 40 prompt tokens, pages of 16: 2 full pages written behind
    const out = join(work, 'export');
    const ex = await cli(['cache', 'export', '--storage', store, '--out', out, '--prefix', 'kv/']);
    expect(ex.code, ex.stderr).toBe(0);
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8'));
    expect(index.entries.map((x: { key: string }) => x.key).sort()).toEqual(pages.map((p) => p.key).sort());
    const st = await FsStorage.open(store);
    try {
      for (const ent of index.entries as { key: string; file: string }[]) {
        const py = JSON.parse(execFileSync(python!, [PY, 'read', join(out, ent.file)], { encoding: 'utf8' }));
        expect(py.checksum_ok).toBe(true);
        expect(py.tensors.k.dtype).toBe('F16');
        expect(py.tensors.k.shape).toEqual([2, 16, 32]); // n_layer, page_size, n_head_kv·head_dim
        expect(py.tensors.v.shape).toEqual([2, 16, 32]);
        const m = py.metadata;
        expect(m.format).toBe('tessera-kv-page-1');
        expect(Number(m.token_end) - Number(m.token_start)).toBe(16);
        expect([m.kv_type_k, m.kv_type_v, m.page_size]).toEqual(['f16', 'f16', '16']);
        expect(m.model_digest).toMatch(/^[0-9a-f]{32,64}$/);
        // The values are the stored page's bytes.
        const v = (await st.get(ent.key))!;
        expect(py.tensors.k.hex).toBe(Buffer.from(v.tensors[0].bytes).toString('hex'));
        expect(py.tensors.k.values.some((x: number) => x !== 0)).toBe(true);
      }
    } finally {
      await st.close();
    }
  });

  it('--session keeps only that session; bad usage exits 2', async () => {
    const ls = await cli(['cache', 'ls', '--storage', store, '--json', '--session', 's1']);
    expect(JSON.parse(ls.stdout).map((r: { key: string }) => r.key)).toEqual(['img/abc/pre']);
    const out = join(work, 'export-s1');
    expect((await cli(['cache', 'export', '--storage', store, '--out', out, '--session', 's1'])).code).toBe(0);
    const py = JSON.parse(execFileSync(python!, [PY, 'read', join(out, 'img/abc/pre.safetensors')], { encoding: 'utf8' }));
    expect(py.tensors.pixels).toMatchObject({ dtype: 'F32', shape: [3, 2, 2] });
    expect(py.tensors.pixels.values[5]).toBeCloseTo(1.25, 6);
    expect(py.metadata.session).toBe('s1');
    const bad = await cli(['cache', 'frobnicate']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("unknown subcommand 'frobnicate'");
  });
});
