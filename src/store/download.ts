/**
 * Resumable, verified downloads: bytes go to a `-partial` file; a retry (or a later pull) sends
 * `Range: bytes=<have>-` and appends when the server answers 206 (starting over on 200). When complete, the
 * file's sha256 is checked against the expected digest: a mismatch deletes the partial file and throws.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { TesseraError } from '../errors.ts';

export class DigestMismatchError extends TesseraError {
  constructor(url: string, want: string, got: string) {
    super('digest_mismatch', `digest mismatch for ${url}: expected sha256:${want}, downloaded sha256:${got} (the partial download was deleted)`);
  }
}

export class DownloadError extends TesseraError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('download_failed', message, options);
  }
}

export interface DownloadOptions {
  /** sha256 hex the complete file must have (unchecked when absent). */
  expectedHex?: string;
  /** Called with (bytes on disk, total bytes or undefined) at most every `progressMs`, and once at the end. */
  onProgress?: (completed: number, total: number | undefined) => void;
  progressMs?: number;
  /** Extra tries after a connection drops mid-transfer, each resuming with a Range request (default 3). */
  retries?: number;
  signal?: AbortSignal;
  fetch?: typeof fetch;
}

function hashFile(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(path)
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

/**
 * Downloads `url` into `partial` (keeping what is already there), then verifies it.
 * @returns the file's sha256 hex and size. The caller renames `partial` into place.
 * @throws DownloadError (HTTP errors, too many drops), DigestMismatchError
 */
export async function downloadResumable(url: string, partial: string, opts: DownloadOptions = {}): Promise<{ hex: string; size: number }> {
  const doFetch = opts.fetch ?? fetch;
  const every = opts.progressMs ?? 100;
  let tries = 1 + (opts.retries ?? 3);
  for (;;) {
    tries--;
    const have = (await stat(partial).catch(() => null))?.size ?? 0;
    const res = await doFetch(url, { headers: have ? { Range: `bytes=${have}-` } : {}, signal: opts.signal }).catch((e: unknown) => {
      if (opts.signal?.aborted) throw e;
      throw new DownloadError(`GET ${url}: ${(e as Error).message}`, { cause: e });
    });
    let completed = have;
    let total: number | undefined;
    const len = Number(res.headers.get('content-length') ?? NaN);
    if (res.status === 416 && have) {
      await res.body?.cancel();
      total = have; // the server has nothing past what we hold: verify it
    } else if (res.status === 206 && have) {
      total = Number.isFinite(len) ? have + len : undefined;
    } else if (res.status === 200) {
      completed = 0;
      total = Number.isFinite(len) ? len : undefined;
    } else {
      await res.body?.cancel();
      throw new DownloadError(`GET ${url}: HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ''}`);
    }
    if (res.status !== 416 && res.body) {
      const fh = await open(partial, completed ? 'a' : 'w');
      let last = 0;
      try {
        const reader = res.body.getReader();
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          await fh.write(value);
          completed += value.length;
          const now = Date.now();
          if (now - last >= every) {
            last = now;
            opts.onProgress?.(completed, total);
          }
        }
      } catch (e) {
        await fh.close();
        if (opts.signal?.aborted || tries <= 0) throw new DownloadError(`GET ${url}: connection lost after ${completed} bytes: ${(e as Error).message}`, { cause: e });
        continue; // resume from what reached the disk
      }
      await fh.close();
      if (total !== undefined && completed < total) {
        if (tries <= 0) throw new DownloadError(`GET ${url}: got ${completed} of ${total} bytes`);
        continue;
      }
    }
    const size = (await stat(partial)).size;
    opts.onProgress?.(size, total ?? size);
    const hex = await hashFile(partial);
    if (opts.expectedHex && hex !== opts.expectedHex) {
      await rm(partial, { force: true });
      throw new DigestMismatchError(url, opts.expectedHex, hex);
    }
    return { hex, size };
  }
}
