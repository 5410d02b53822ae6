/**
 * Model names as Ollama parses them: `[host/][namespace/]model[:tag]`.
 *
 *   llama3.2                       → registry.ollama.ai / library / llama3.2 : latest   (shown `llama3.2:latest`)
 *   library/x:1b                   → registry.ollama.ai / library / x        : 1b       (shown `x:1b`)
 *   me/x                           → registry.ollama.ai / me      / x        : latest   (shown `me/x:latest`)
 *   127.0.0.1:5000/ns/x:q4         → 127.0.0.1:5000     / ns      / x        : q4       (shown in full)
 *
 * Every part is checked before it becomes a path: letters, digits, '.', '_', '-' (the host may add
 * `:port`), no part starting with a symbol, and no `..` anywhere — `../x`, `/etc/passwd`, `a/../b`, `a:b:c`
 * are InvalidModelNameError (HTTP 400).
 */
import { TesseraError } from '../errors.ts';

export const DEFAULT_HOST = 'registry.ollama.ai';
export const DEFAULT_NAMESPACE = 'library';
export const DEFAULT_TAG = 'latest';

export class InvalidModelNameError extends TesseraError {
  constructor(name: string) {
    super(
      'invalid_model_name',
      `invalid model name '${String(name).slice(0, 200)}': expected [host/][namespace/]model[:tag] made of letters, digits, '.', '_' and '-' (no '..', no leading '/')`,
    );
  }
}

export interface ModelName {
  host: string;
  namespace: string;
  model: string;
  tag: string;
  /** The name as listed: `model:tag` for library models of the default host, `ns/model:tag`, or `host/ns/model:tag`. */
  full: string;
}

const PART = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const HOST = /^[A-Za-z0-9][A-Za-z0-9.-]{0,252}(:[0-9]{1,5})?$/;

/** `name` → its parts, or throws InvalidModelNameError. */
export function parseModelName(name: string): ModelName {
  if (typeof name !== 'string' || name.length === 0 || name.length > 600 || name.includes('..')) throw new InvalidModelNameError(String(name));
  const slash = name.lastIndexOf('/');
  const colon = name.lastIndexOf(':');
  const tag = colon > slash ? name.slice(colon + 1) : DEFAULT_TAG;
  const parts = (colon > slash ? name.slice(0, colon) : name).split('/');
  if (parts.length > 3) throw new InvalidModelNameError(name);
  const model = parts.pop()!;
  const namespace = parts.pop() ?? DEFAULT_NAMESPACE;
  const host = parts.pop() ?? DEFAULT_HOST;
  if (!PART.test(model) || !PART.test(namespace) || !PART.test(tag) || !HOST.test(host)) throw new InvalidModelNameError(name);
  return { host, namespace, model, tag, full: displayName(host, namespace, model, tag) };
}

export function displayName(host: string, namespace: string, model: string, tag: string): string {
  if (host === DEFAULT_HOST) return namespace === DEFAULT_NAMESPACE ? `${model}:${tag}` : `${namespace}/${model}:${tag}`;
  return `${host}/${namespace}/${model}:${tag}`;
}
