/**
 * Request bodies checked with zod at the route boundary. The body is read as JSON whatever the
 * Content-Type says (Ollama does the same: `curl -d` sends form-urlencoded), unknown fields are kept
 * (schemas are `looseObject`), and the first problems become a 400 naming the fields.
 */
import type { Context } from 'hono';
import type { z } from 'zod';
import { badRequest } from './errors.ts';

function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .slice(0, 3)
    .map((i) => `${i.path.length ? i.path.join('.') : 'body'}: ${i.message}`)
    .join('; ');
}

/** Parses and validates the JSON body. @throws HttpError 400 on malformed JSON or a schema mismatch. */
export async function parseBody<T extends z.ZodType>(c: Context, schema: T): Promise<z.output<T>> {
  const text = await c.req.text();
  if (text.trim() === '') throw badRequest('missing request body (expected a JSON object)');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw badRequest(`invalid JSON in request body: ${(e as Error).message}`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw badRequest('request body must be a JSON object');
  const r = schema.safeParse(json);
  if (!r.success) throw badRequest(describeIssues(r.error.issues));
  return r.data;
}
