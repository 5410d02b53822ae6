/**
 * Files from the llama.cpp source that node-llama-cpp ships as a git bundle (llama/gitRelease.bundle):
 * e.g. its vocab-only GGUFs (models/ggml-vocab-*.gguf). Needs git; `available` says whether both exist.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

/**
 * ggml's quantizer sources (ggml/include, ggml/src/ggml-quants.{c,h}, ggml-common.h, ggml-impl.h, ggml-cpu/)
 * from the bundle, extracted once per source commit under the OS temp dir; returns the directory (the root of
 * a partial llama.cpp tree) or why it can't (no git, no bundle).
 */
export function ggmlQuantsSource(): { dir?: string; skip?: string } {
  if (!existsSync(bundle)) return { skip: `no llama.cpp source bundle at ${bundle}` };
  const root = join(tmpdir(), 'tessera-ggml-src');
  mkdirSync(root, { recursive: true });
  const git = (...args: string[]) => spawnSync('git', ['-C', root, ...args], { encoding: 'utf8' });
  if (!existsSync(join(root, '.git')) && git('init', '-q').status !== 0) return { skip: 'git is not available' };
  if (git('fetch', '-q', bundle).status !== 0) return { skip: 'git fetch of the bundle failed' };
  const commit = git('rev-parse', 'FETCH_HEAD').stdout.trim();
  const dir = join(root, commit);
  if (existsSync(join(dir, 'ggml/src/ggml-quants.c'))) return { dir };
  mkdirSync(dir, { recursive: true });
  const files = ['ggml/include', 'ggml/src/ggml-quants.c', 'ggml/src/ggml-quants.h', 'ggml/src/ggml-common.h', 'ggml/src/ggml-impl.h', 'ggml/src/ggml-cpu'];
  const tar = spawnSync('sh', ['-c', `git -C "${root}" archive FETCH_HEAD ${files.join(' ')} | tar -x -C "${dir}"`], { encoding: 'utf8' });
  if (tar.status !== 0) return { skip: `git archive failed: ${tar.stderr}` };
  return { dir };
}
