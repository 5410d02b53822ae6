import { TesseraError } from '../errors.ts';

/** An explicitly requested backend cannot run here (not detected, not in this build, or failed to start). HTTP 503. */
export class BackendUnavailableError extends TesseraError {
  constructor(
    readonly kind: string,
    readonly reason: string,
  ) {
    super('backend_unavailable', `backend '${kind}' is not available: ${reason}`);
  }
}
