/**
 * Images in requests: Ollama's `images` (base64 strings) and OpenAI's `image_url` parts (data: URLs).
 * Each image is decoded within the limits of src/vision (format sniffed, declared size checked before
 * decoding, so a decompression bomb costs nothing) and a bad one is a 400 naming its index and what is
 * wrong. A model without a vision encoder answers 400 "does not support images" after that check.
 */
import { decodeImage, type DecodedImage, ImageError } from '../vision/index.ts';
import { badRequest, HttpError } from './errors.ts';

/** The bytes of a base64 string (standard or URL alphabet, padding optional). @throws HttpError 400. */
export function base64Bytes(s: string, what: string): Uint8Array {
  const clean = s.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/_-]*={0,2}$/.test(clean)) throw badRequest(`${what}: not base64`);
  return Buffer.from(clean.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}

/** An OpenAI `image_url` (a data: URL, or a remote http(s) URL, refused: remote images are not fetched) → base64. */
export function imageUrlBase64(url: string, what: string): string {
  const m = /^data:([\w.+-]+\/[\w.+-]+)?(;[\w-]+=[^;,]*)*;base64,(.*)$/s.exec(url);
  if (m) return m[3];
  if (/^https?:\/\//i.test(url)) throw badRequest(`${what}: remote image URLs are not fetched by this server; send the image as a data: URL`);
  throw badRequest(`${what}: expected a data:image/…;base64, URL`);
}

/**
 * An OpenAI `image_url` as a request image: a data: URL's base64, or `{ url }` for a remote http(s) URL when the
 * server fetches them (TESSERA_IMAGE_FETCH=on, src/server/image-fetch.ts); refused otherwise.
 */
export function imageUrlInput(url: string, what: string): string | { url: string } {
  if (/^https?:\/\//i.test(url) && process.env.TESSERA_IMAGE_FETCH === 'on') return { url };
  return imageUrlBase64(url, what);
}

/** Decodes every image; the first bad one is a 400 naming it. */
export async function decodeRequestImages(images: readonly unknown[]): Promise<DecodedImage[]> {
  const out: DecodedImage[] = [];
  for (let i = 0; i < images.length; i++) {
    const v = images[i];
    if (typeof v !== 'string') throw badRequest(`images[${i}]: expected a base64 string`);
    try {
      out.push(await decodeImage(base64Bytes(v, `images[${i}]`)));
    } catch (e) {
      if (e instanceof ImageError) throw new HttpError(400, 'invalid_image', `images[${i}]: ${e.message}`);
      throw e;
    }
  }
  return out;
}

/** Decodes each image's bytes to check it (a model without a projector says so only for good images). @throws HttpError 400 naming the first bad one */
export async function checkImageBytes(images: readonly Uint8Array[]): Promise<void> {
  for (let i = 0; i < images.length; i++) {
    try {
      await decodeImage(images[i]!);
    } catch (e) {
      if (e instanceof ImageError) throw new HttpError(400, 'invalid_image', `images[${i}]: ${e.message}`);
      throw e;
    }
  }
}

export const noVision = (model: string) => badRequest(`model '${model}' does not support images (it has no vision encoder)`);
