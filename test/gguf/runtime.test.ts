/** GGUF write/open/readTensorInto(SharedArrayBuffer view) under Bun and Deno (Node is covered by roundtrip.test.ts). */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCRIPT = fileURLToPath(new URL('./runtime-smoke.ts', import.meta.url));
const BIN = (name: string) => `${ROOT}node_modules/.bin/${name}`;

describe('gguf on other runtimes', () => {
  for (const [name, args] of [['bun', [SCRIPT]], ['deno', ['run', '-A', SCRIPT]]] as const) {
    it.skipIf(!existsSync(BIN(name)))(`${name}: readTensorInto a SharedArrayBuffer-backed view (skipped if ${name} is not installed)`, () => {
      const r = spawnSync(BIN(name), args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
      expect(r.stderr + r.stdout).toContain(`ok ${name}`);
      expect(r.status).toBe(0);
    }, 70_000);
  }
});
