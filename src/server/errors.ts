/**
 * HTTP errors in one place: every thrown error becomes a status and a message here, then either Ollama's
 * `{"error": "..."}` or OpenAI's `{"error": {message, type, param, code}}` depending on the route.
 */
import type { Context } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { TesseraError } from '../errors.ts';

/** An error with its HTTP status, thrown by the routes. */
export class HttpError extends TesseraError {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409 | 413 | 415 | 422 | 499 | 500 | 501 | 503,
    code: string,
    message: string,
  ) {
    super(code, message);
  }
}

export const badRequest = (message: string) => new HttpError(400, 'invalid_request', message);
export const notFound = (message: string) => new HttpError(404, 'not_found', message);
export const notImplemented = (message: string) => new HttpError(501, 'not_implemented', message);

/** The status of a Tessera error code. */
function statusOfCode(code: string): number {
  if (code === 'invalid_argument' || code === 'kv_cache_full' || code === 'invalid_model_name' || code === 'gguf_not_found' || code === 'chat_template_error') return 400;
  if (code === 'model_not_found' || code === 'blob_not_found') return 404;
  if (code === 'engine_closed' || code === 'queue_full' || code === 'backend_unavailable') return 503;
  if (code.startsWith('gguf') || code === 'model_format' || code.startsWith('unsupported') || code.startsWith('quantize') || code === 'model_too_large') return 422;
  return 500;
}

export interface HttpErrorInfo {
  status: number;
  message: string;
}

/** Status and message for anything thrown. Unknown errors are 500 with their message. */
export function describeError(e: unknown): HttpErrorInfo {
  if (e instanceof HttpError) return { status: e.status, message: e.message };
  if (e instanceof HTTPException) {
    // hono/body-limit and hono/bearer-auth throw these with a Response or a message.
    const msg = e.status === 413 ? 'request body too large' : e.status === 401 ? 'unauthorized: missing or wrong Bearer API key' : e.message || `HTTP ${e.status}`;
    return { status: e.status, message: msg };
  }
  if (e instanceof TesseraError) return { status: statusOfCode(e.code), message: e.message };
  if (e instanceof SyntaxError) return { status: 400, message: `invalid JSON: ${e.message}` };
  const message = (e as Error)?.message ?? String(e);
  return { status: 500, message: message || 'internal error' };
}

/** OpenAI's error `type` for a status. */
function openaiType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 404) return 'not_found_error';
  if (status === 413 || status === 400 || status === 422) return 'invalid_request_error';
  if (status === 503) return 'server_overloaded';
  return status >= 500 ? 'server_error' : 'invalid_request_error';
}

/** /v1 routes answer OpenAI's error shape, also when the app is mounted under a prefix (`/llm/v1/...`). */
export const isOpenAIPath = (path: string) => /(^|\/)v1(\/|$)/.test(path);

/** The error response in the shape of the route's API. */
export function errorResponse(c: Context, e: unknown): Response {
  const { status, message } = describeError(e);
  const body = isOpenAIPath(c.req.path)
    ? { error: { message, type: openaiType(status), param: null, code: null } }
    : { error: message };
  return c.json(body, status as 400);
}
