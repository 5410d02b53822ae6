/** Paths the benchmark needs: installed packages (versions, files) and the repository root, found by walking up from this file. */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function packageVersion(name: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'node_modules', name, 'package.json');
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
    const up = dirname(dir);
    if (up === dir) return 'unknown';
    dir = up;
  }
}

/** Absolute path of a file inside an installed package. */
export function packageFile(name: string, file: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const path = join(dir, 'node_modules', name, file);
    if (existsSync(path)) return path;
    const up = dirname(dir);
    if (up === dir) throw new Error(`${name}/${file} not found in any node_modules above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

/** The repository root: the nearest directory above this file whose package.json is named "tessera". */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file) && (JSON.parse(readFileSync(file, 'utf8')) as { name?: string }).name === 'tessera') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('repository root (package.json named "tessera") not found');
    dir = up;
  }
}

/** Where bench/build-llama-bench.sh puts llama.cpp's native llama-bench (or another of its tools: `llama-batched-bench`). */
export function llamaBenchPath(tool = 'llama-bench'): string {
  return join(process.env.TESSERA_LLAMA_CPP_DIR ?? join(homedir(), '.cache', 'tessera', 'llama.cpp'), 'build', 'bin', tool);
}
