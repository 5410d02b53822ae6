/** Driver side of the engine-child protocol: spawn, collect the marked JSON line, surface stderr on failure. */
import { spawn } from 'node:child_process';
import { basename } from 'node:path';
import { BenchError } from './errors.ts';
import { RESULT_MARKER } from './types.ts';

export interface ChildOptions {
  env?: Record<string, string>;
  timeoutMs: number;
  /** Stream the child's logs (stdout lines other than the result, and stderr) to our stderr. */
  verbose: boolean;
}

/** Runs `command args…`, resolves with the parsed JSON of its RESULT_MARKER line. */
export function runChild<T>(command: string, args: string[], opts: ChildOptions): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let result: T | undefined;
    let stdoutRest = '';
    const stderrTail: string[] = [];
    const keepTail = (line: string): void => {
      stderrTail.push(line);
      if (stderrTail.length > 40) stderrTail.shift();
      if (opts.verbose) process.stderr.write(`  | ${line}\n`);
    };
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      const lines = (stdoutRest + chunk).split('\n');
      stdoutRest = lines.pop() ?? '';
      for (const line of lines) {
        if (line.startsWith(RESULT_MARKER)) result = JSON.parse(line.slice(RESULT_MARKER.length)) as T;
        else keepTail(line);
      }
    });
    let stderrRest = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      const lines = (stderrRest + chunk).split('\n');
      stderrRest = lines.pop() ?? '';
      for (const line of lines) keepTail(line);
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new BenchError(`cannot start ${command}: ${err.message}`, { cause: err }));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (stdoutRest.startsWith(RESULT_MARKER)) result = JSON.parse(stdoutRest.slice(RESULT_MARKER.length)) as T;
      if (result !== undefined && code === 0) return resolve(result);
      const why = signal ? `killed by ${signal}${signal === 'SIGKILL' ? ' (timeout?)' : ''}` : `exit code ${code}`;
      const reason = [...stderrTail].reverse().find((l) => /\b\w*(Error|error)\b/.test(l))?.trim() ?? 'no error line';
      reject(new BenchError(`${basename(args[0] ?? command)} failed (${why}): ${reason}\nlast log lines:\n${stderrTail.join('\n')}`));
    });
  });
}
