/**
 * Files from the llama.cpp source that node-llama-cpp ships as a git bundle (llama/gitRelease.bundle):
 * e.g. its vocab-only GGUFs (models/ggml-vocab-*.gguf). Needs git; `available` says whether both exist.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';

const require = createRequire(import.meta.url);
const nlcMain = require.resolve('node-llama-cpp');
const bundle = join(nlcMain.slice(0, nlcMain.lastIndexOf(`${sep}dist${sep}`)), 'llama', 'gitRelease.bundle');

export const llamaSrcAvailable: boolean = (() => {
  if (!existsSync(bundle)) return false;
  try {
    execFileSync('git', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

/** Clones the bundle (no checkout) into a temp dir; `extract(path)` writes one file of HEAD there and returns its path. */
export function openLlamaSrc(): { dir: string; extract(path: string): string; close(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'tessera-llama-src-'));
  execFileSync('git', ['clone', '-q', '--depth', '1', '--no-checkout', bundle, join(dir, 'src')], { stdio: 'ignore' });
  return {
    dir,
    extract(path: string): string {
      const out = join(dir, path.replaceAll('/', '_'));
      writeFileSync(out, execFileSync('git', ['-C', join(dir, 'src'), 'show', `HEAD:${path}`], { maxBuffer: 1 << 26 }));
      return out;
    },
    close: () => rmSync(dir, { recursive: true, force: true }),
  };
}
