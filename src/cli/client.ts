/**
 * How CLI commands reach the API: over HTTP to the server at TESSERA_HOST (as Ollama's CLI does with
 * OLLAMA_HOST), or — for `run` when no server answers — through an in-process app (`app.request`), so the
 * same routes, templates and stored settings apply either way.
 */
import { parseHost } from '../server/config.ts';
import { CliError } from './args.ts';

export type Fetcher = (path: string, init?: RequestInit) => Promise<Response>;

/** `http://host:port` of TESSERA_HOST (0.0.0.0 / :: become loopback). */
export function serverUrl(env: Record<string, string | undefined> = process.env): string {
  const { host, port } = parseHost(env.TESSERA_HOST ?? '');
  const h = host === '0.0.0.0' || host === '::' || host === '' ? '127.0.0.1' : host;
  return `http://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

/** A fetcher to the server; a refused connection becomes a CliError naming the address. */
export function httpFetcher(base = serverUrl()): Fetcher {
  return async (path, init) => {
    try {
      return await fetch(`${base}${path}`, init);
    } catch (e) {
      throw new CliError(`could not connect to the tessera server at ${base} (${(e as Error & { cause?: Error }).cause?.message ?? (e as Error).message}): start it with 'tessera serve', or set TESSERA_HOST`);
    }
  };
}

/** Whether a server answers at `base` (GET /api/version within `ms`). */
export async function serverReachable(base = serverUrl(), ms = 1000): Promise<boolean> {
  try {
    const r = await fetch(`${base}/api/version`, { signal: AbortSignal.timeout(ms) });
    await r.body?.cancel();
    return r.ok;
  } catch {
    return false;
  }
}

async function errorOf(res: Response): Promise<CliError> {
  const text = await res.text().catch(() => '');
  let msg = text;
  try {
    const j = JSON.parse(text) as { error?: unknown };
    if (typeof j.error === 'string') msg = j.error;
  } catch {
    /* not JSON */
  }
  return new CliError(msg || `HTTP ${res.status}`);
}

/** Sends a JSON request; returns the parsed answer (null for an empty body). @throws CliError with the server's message */
export async function callJson<T = unknown>(f: Fetcher, method: string, path: string, body?: unknown): Promise<T> {
  const res = await f(path, { method, headers: body === undefined ? {} : { 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!res.ok) throw await errorOf(res);
  const text = await res.text();
  return (text ? JSON.parse(text) : null) as T;
}

/** POSTs `body` and yields the NDJSON lines; an `{error}` line becomes a CliError. */
export async function* streamJson<T = Record<string, unknown>>(f: Fetcher, path: string, body: unknown, signal?: AbortSignal): AsyncGenerator<T> {
  const res = await f(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), signal });
  if (!res.ok) throw await errorOf(res);
  if (!res.body) return;
  const dec = new TextDecoder();
  let buf = '';
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (value) buf += dec.decode(value, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line) continue;
      const o = JSON.parse(line) as T & { error?: string };
      if (typeof o.error === 'string') throw new CliError(o.error);
      yield o as Awaited<T>;
    }
    if (done) break;
  }
  if (buf.trim()) {
    const o = JSON.parse(buf) as T & { error?: string };
    if (typeof o.error === 'string') throw new CliError(o.error);
    yield o as Awaited<T>;
  }
}
