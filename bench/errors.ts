import { TesseraError } from '../src/errors.ts';

/** A benchmark step (model generation, an engine child, a measurement) failed. */
export class BenchError extends TesseraError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('bench_failed', message, options);
  }
}
