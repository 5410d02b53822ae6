/** Child side of the driver↔engine protocol: request as JSON in argv[2], result as one marked stdout line. Runs under Node and Deno. */
import { RESULT_MARKER, type EngineRequest, type EngineResult } from '../types.ts';

export function readRequest<T = EngineRequest>(): T {
  const raw = process.argv[2];
  if (!raw) throw new Error('engine child: missing JSON request in argv[2]');
  return JSON.parse(raw) as T;
}

export function writeResult(result: EngineResult | object): void {
  process.stdout.write(`${RESULT_MARKER}${JSON.stringify(result)}\n`);
}

