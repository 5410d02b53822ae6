/**
 * Registry token auth, as Docker/OCI registries and Ollama's registry do it: a request answered
 * `401` with `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` is retried once with a token
 * fetched from `realm?service=…&scope=…` (anonymous; `TESSERA_REGISTRY_TOKEN`/`OLLAMA_REGISTRY_TOKEN`
 * or a basic credential can be given instead). The token is reused for later requests to the same
 * registry until one is refused again.
 */
import { TesseraError } from '../errors.ts';

export class RegistryAuthError extends TesseraError {
  constructor(message: string) {
    super('registry_auth', message);
  }
}

/** Parses `Bearer realm="a",service="b",scope="c"` into its parameters (lower-case keys); null if not Bearer. */
export function parseBearerChallenge(header: string | null): Record<string, string> | null {
  if (!header) return null;
  const m = /^\s*Bearer\s+(.*)$/is.exec(header);
  if (!m) return null;
  const out: Record<string, string> = {};
  for (const p of m[1].matchAll(/([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) out[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3];
  return out;
}

export interface RegistryAuthOptions {
  /** A ready bearer token (skips the token endpoint). */
  token?: string;
  /** `user:password` for the token endpoint (basic auth). */
  basic?: string;
}

/** A fetch that answers registry Bearer challenges. `doFetch` does the requests. */
export function registryFetch(doFetch: typeof fetch, opts: RegistryAuthOptions = {}): typeof fetch {
  let token = opts.token;
  const withAuth = (init: RequestInit | undefined, t: string | undefined): RequestInit => {
    if (!t) return init ?? {};
    const headers = new Headers(init?.headers);
    headers.set('Authorization', `Bearer ${t}`);
    return { ...init, headers };
  };
  const f = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const res = await doFetch(input, withAuth(init, token));
    if (res.status !== 401) return res;
    const ch = parseBearerChallenge(res.headers.get('www-authenticate'));
    if (!ch?.realm) return res; // not a token challenge: the caller reports the 401
    await res.body?.cancel();
    let realm: URL;
    try {
      realm = new URL(ch.realm);
    } catch {
      throw new RegistryAuthError(`registry token realm '${ch.realm.slice(0, 200)}' is not a URL`);
    }
    if (!/^https?:$/.test(realm.protocol)) throw new RegistryAuthError(`registry token realm '${realm.href}' is not http(s)`);
    if (ch.service) realm.searchParams.set('service', ch.service);
    if (ch.scope) realm.searchParams.set('scope', ch.scope);
    const headers: Record<string, string> = {};
    if (opts.basic) headers.Authorization = `Basic ${btoa(opts.basic)}`;
    const tr = await doFetch(realm, { headers, signal: init?.signal }).catch((e: unknown) => {
      if (init?.signal?.aborted) throw e;
      throw new RegistryAuthError(`registry token: ${realm.origin}: ${(e as Error).message}`);
    });
    if (!tr.ok) {
      await tr.body?.cancel();
      throw new RegistryAuthError(`registry token: ${realm.origin} answered HTTP ${tr.status}`);
    }
    const body = (await tr.json().catch(() => null)) as { token?: unknown; access_token?: unknown } | null;
    const t = typeof body?.token === 'string' ? body.token : typeof body?.access_token === 'string' ? body.access_token : null;
    if (!t) throw new RegistryAuthError(`registry token: ${realm.origin} answered without a token`);
    token = t;
    return doFetch(input, withAuth(init, token));
  };
  return f as typeof fetch;
}
