/**
 * A tiny Ollama-compatible registry on loopback (node:http) for pull tests:
 *   GET /v2/<ns>/<model>/manifests/<tag>   the manifest text (404 when unknown)
 *   GET /v2/<ns>/<model>/blobs/sha256:<hex>  the blob; honours `Range: bytes=N-` with 206
 *   GET /files/<name>                      a plain file (for URL pulls), also with Range
 * Token auth (when `auth` is set): /v2 requests without `Authorization: Bearer <auth.token>` get 401 with a
 * `WWW-Authenticate: Bearer realm=<url>/token,service,scope` challenge; GET /token?service&scope answers
 * `{ token }` (or 403 when `auth.refuse`), as Docker/OCI registries do.
 * Fault injection: `cut` (hex or file name → how many responses to break off after half the body),
 * `corrupt` (hex → serve other bytes). Every request is logged with its Range header.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

export interface Registry {
  url: string;
  host: string;
  /** `ns/model:tag` → manifest text. */
  manifests: Map<string, string>;
  /** hex → bytes. */
  blobs: Map<string, Buffer>;
  files: Map<string, Buffer>;
  cut: Map<string, number>;
  corrupt: Set<string>;
  log: { path: string; range?: string; status: number; query?: string }[];
  auth?: { token: string; refuse?: boolean };
  close(): Promise<void>;
}

export const sha256hex = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

/** Adds a model made of `layers` (mediaType → bytes) and returns its manifest text. */
export function addModel(reg: Registry, name: string, layers: [string, Buffer][]): string {
  const layer = (mediaType: string, b: Buffer) => {
    const hex = sha256hex(b);
    reg.blobs.set(hex, b);
    return { mediaType, digest: `sha256:${hex}`, size: b.length };
  };
  const ls = layers.map(([t, b]) => layer(t, b));
  const config = layer('application/vnd.docker.container.image.v1+json', Buffer.from(JSON.stringify({ model_format: 'gguf', model_family: 'llama' })));
  const text = JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.docker.distribution.manifest.v2+json', config, layers: ls });
  reg.manifests.set(name, text);
  return text;
}

function sendBytes(req: IncomingMessage, res: ServerResponse, reg: Registry, key: string, body: Buffer, path: string): void {
  const range = req.headers.range;
  let start = 0;
  const m = range ? /^bytes=(\d+)-$/.exec(range) : null;
  if (m) start = Number(m[1]);
  if (start >= body.length && m) {
    reg.log.push({ path, range, status: 416 });
    res.writeHead(416, { 'Content-Range': `bytes */${body.length}` }).end();
    return;
  }
  const part = body.subarray(start);
  const status = m ? 206 : 200;
  reg.log.push({ path, range, status });
  res.writeHead(status, { 'Content-Length': part.length, 'Content-Type': 'application/octet-stream', ...(m ? { 'Content-Range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}) });
  const cuts = reg.cut.get(key) ?? 0;
  if (cuts > 0) {
    reg.cut.set(key, cuts - 1);
    res.write(part.subarray(0, Math.floor(part.length / 2)), () => setTimeout(() => res.socket?.destroy(), 20));
    return;
  }
  res.end(part);
}

export function startRegistry(): Promise<Registry> {
  const reg = { manifests: new Map(), blobs: new Map(), files: new Map(), cut: new Map(), corrupt: new Set(), log: [] } as unknown as Registry;
  const server: Server = createServer((req, res) => {
    const [path, query] = (req.url ?? '').split('?');
    if (reg.auth && path === '/token') {
      reg.log.push({ path, status: reg.auth.refuse ? 403 : 200, query });
      if (reg.auth.refuse) res.writeHead(403).end('denied');
      else res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ token: reg.auth.token }));
      return;
    }
    if (reg.auth && path.startsWith('/v2/') && req.headers.authorization !== `Bearer ${reg.auth.token}`) {
      const repo = /^\/v2\/([^/]+\/[^/]+)\//.exec(path)?.[1] ?? '';
      reg.log.push({ path, status: 401 });
      res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${reg.url}/token",service="test-registry",scope="repository:${repo}:pull"`, 'Content-Type': 'application/json' }).end('{"errors":[{"code":"UNAUTHORIZED"}]}');
      return;
    }
    const man = /^\/v2\/([^/]+)\/([^/]+)\/manifests\/([^/]+)$/.exec(path);
    const blob = /^\/v2\/[^/]+\/[^/]+\/blobs\/sha256:([0-9a-f]{64})$/.exec(path);
    const file = /^\/files\/([^/]+)$/.exec(path);
    if (man && reg.manifests.has(`${man[1]}/${man[2]}:${man[3]}`)) {
      reg.log.push({ path, status: 200 });
      res.writeHead(200, { 'Content-Type': 'application/vnd.docker.distribution.manifest.v2+json' }).end(reg.manifests.get(`${man[1]}/${man[2]}:${man[3]}`));
    } else if (blob && reg.blobs.has(blob[1])) {
      const b = reg.blobs.get(blob[1])!;
      sendBytes(req, res, reg, blob[1], reg.corrupt.has(blob[1]) ? Buffer.from(b.map((x) => x ^ 0xff)) : b, path);
    } else if (file && reg.files.has(file[1])) {
      sendBytes(req, res, reg, file[1], reg.files.get(file[1])!, path);
    } else {
      reg.log.push({ path, status: 404 });
      res.writeHead(404, { 'Content-Type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }] }));
    }
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      reg.host = `127.0.0.1:${port}`;
      reg.url = `http://${reg.host}`;
      reg.close = () => new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      });
      resolve(reg);
    });
  });
}
