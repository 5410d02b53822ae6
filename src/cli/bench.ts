/** `tessera bench [ARGS]`: runs the benchmark suite (dist/bench/run.js, built by `npm run build`) with ARGS. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CliError } from './args.ts';
import type { Command } from './command.ts';

/** dist/src/cli/main.js → dist/bench/run.js. */
const SCRIPT = join(import.meta.dirname, '..', '..', 'bench', 'run.js');

export const bench: Command = {
  name: 'bench',
  summary: 'run the benchmarks (bench/)',
  help: `usage: tessera bench [ARGS...]\n\nRuns ${SCRIPT} with ARGS (see bench/README.md); needs a build (npm run build).`,
  async run(args) {
    if (!existsSync(SCRIPT)) throw new CliError(`bench: ${SCRIPT} not found: build it with 'npm run build'`);
    const child = spawn(process.execPath, [SCRIPT, ...args], { stdio: 'inherit' });
    return new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
    });
  },
};
