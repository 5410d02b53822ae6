/**
 * Request images as bytes: base64 strings (Ollama's `images`, OpenAI data: URLs) and, only when the server enables
 * it, remote http(s) URLs (OpenAI `image_url`):
 *
 *   TESSERA_IMAGE_FETCH=on                 fetch remote image URLs (default: refused with a 400)
 *   TESSERA_IMAGE_FETCH_MAX_BYTES          largest body fetched (default 20 MiB; a larger one is a 400)
 *   TESSERA_IMAGE_FETCH_TIMEOUT_MS         whole fetch, headers and body (default 10000)
 *
 * Every failure is a 400 naming the image (`images[i]: …`).
 */
import { badRequest } from './errors.ts';
import { base64Bytes } from './images.ts';

export const DEFAULT_FETCH_MAX_BYTES = 20 * 1024 * 1024;
export const DEFAULT_FETCH_TIMEOUT_MS = 10_000;

function envInt(name: string, dflt: number): number {
  const v = Number(process.env[name]);
  return Number.isSafeInteger(v) && v > 0 ? v : dflt;
}

/** The bytes of one remote image. @throws HttpError 400 */
export async function fetchImage(url: string, what: string): Promise<Uint8Array> {
  const max = envInt('TESSERA_IMAGE_FETCH_MAX_BYTES', DEFAULT_FETCH_MAX_BYTES);
  const timeoutMs = envInt('TESSERA_IMAGE_FETCH_TIMEOUT_MS', DEFAULT_FETCH_TIMEOUT_MS);
  const signal = AbortSignal.timeout(timeoutMs);
  let res: Response;
  try {
    res = await fetch(url, { signal, redirect: 'follow' });
  } catch (e) {
    throw badRequest(`${what}: fetching ${url} failed: ${signal.aborted ? `no answer within ${timeoutMs} ms` : (e as Error).message}`);
  }
  if (!res.ok) {
    await res.body?.cancel().catch(() => {});
    throw badRequest(`${what}: fetching ${url} failed: HTTP ${res.status}`);
  }
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel().catch(() => {});
    throw badRequest(`${what}: ${url} is ${declared} bytes, more than the ${max} allowed (TESSERA_IMAGE_FETCH_MAX_BYTES)`);
  }
  const chunks: Uint8Array[] = [];
  let n = 0;
  try {
    const reader = res.body!.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      n += value.byteLength;
      if (n > max) {
        await reader.cancel().catch(() => {});
        throw badRequest(`${what}: ${url} is more than the ${max} bytes allowed (TESSERA_IMAGE_FETCH_MAX_BYTES)`);
      }
      chunks.push(value);
    }
  } catch (e) {
    if ((e as { status?: number }).status === 400) throw e;
    throw badRequest(`${what}: fetching ${url} failed: ${signal.aborted ? `no answer within ${timeoutMs} ms` : (e as Error).message}`);
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.byteLength;
  }
  return out;
}

/** Bytes of every request image (base64 strings, or `{ url }` to fetch). @throws HttpError 400 naming the image */
export async function requestImageBytes(images: readonly unknown[]): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for (let i = 0; i < images.length; i++) {
    const v = images[i];
    const what = `images[${i}]`;
    if (typeof v === 'string') out.push(base64Bytes(v, what));
    else if (v && typeof v === 'object' && typeof (v as { url?: unknown }).url === 'string') out.push(await fetchImage((v as { url: string }).url, what));
    else throw badRequest(`${what}: expected a base64 string`);
  }
  return out;
}
