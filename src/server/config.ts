/**
 * Server configuration from environment variables, following Ollama's habits (OLLAMA_HOST → TESSERA_HOST, …).
 * One table, `CONFIG_VARS`, is both the parser's source of truth and what `tessera serve --help` prints.
 *
 * @example
 * const cfg = loadServerConfig(process.env); // { host: '127.0.0.1', port: 11434, ... }
 */
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parseKeepAlive } from './keep-alive.ts';
import { BACKEND_KINDS, type BackendRequest } from '../hardware/select.ts';

export interface ServerConfig {
  host: string;
  port: number;
  /** Store and default cache directory. */
  home: string;
  /** Tessera's model store: `manifests/`, `blobs/` (and loose `<name>.gguf` files); see src/server/store.ts. */
  modelsDir: string;
  /** The user's Ollama store, read only (undefined: not read). */
  ollamaModelsDir?: string;
  /** Worker threads per loaded model (undefined: the number of cores). */
  threads?: number;
  /** Default keep_alive in ms; Infinity keeps models loaded, 0 unloads after each request. */
  keepAliveMs: number;
  /** Most models loaded at once (least recently used idle model unloaded first). */
  maxLoadedModels: number;
  /** Byte budget for loaded models (weights + KV); 0 = unlimited. */
  memoryBudget: number;
  /** Requests served at once per server (generation, embeddings). */
  numParallel: number;
  /** Requests allowed to wait beyond numParallel; more get 503. */
  maxQueue: number;
  /** Storage driver for KV pages / image tensors: memory | fs | redis. */
  storage: string;
  /** Driver URL (fs: directory, redis: redis://…). */
  storageUrl?: string;
  /** Bearer key; required on every route but GET/HEAD / when set. */
  apiKey?: string;
  /** CORS allowed origins ('*' or a list); empty: same-origin only plus loopback origins. */
  origins: string[];
  /** Largest request body in bytes (413 past it). */
  maxBodyBytes: number;
  /** Log format: json (one object per line, default) | text | off. */
  log: 'json' | 'text' | 'off';
  /** Backend for every model (default 'auto'), and per model name (TESSERA_MODEL_BACKENDS). */
  backend: BackendRequest;
  modelBackends: Record<string, BackendRequest>;
  /** MATMUL split autotuning at load (winners kept in the storage above); budget in ms (default: by model size). */
  tune: boolean;
  tuneBudgetMs?: number;
}

export interface ConfigVar {
  name: string;
  default: string;
  help: string;
}

export const CONFIG_VARS: readonly ConfigVar[] = [
  { name: 'TESSERA_HOST', default: '127.0.0.1:11434', help: 'address to listen on, host:port (or host, or :port)' },
  { name: 'TESSERA_HOME', default: '~/.tessera', help: 'store and default cache directory' },
  { name: 'TESSERA_MODELS', default: '$TESSERA_HOME/models', help: 'model store (manifests/, blobs/ as Ollama lays them out; loose <name>.gguf files are listed too)' },
  { name: 'OLLAMA_MODELS', default: '~/.ollama/models', help: "Ollama's model store, read in place (never written); 'off' to ignore it" },
  { name: 'TESSERA_THREADS', default: 'number of cores', help: 'worker threads per loaded model' },
  { name: 'TESSERA_BACKEND', default: 'wasm', help: `backend for every model: auto (chosen from the detected hardware), ${BACKEND_KINDS.join(', ')} (an unavailable one fails the load with 503)` },
  { name: 'TESSERA_MODEL_BACKENDS', default: 'none', help: 'per-model backend, name=kind pairs separated by commas (e.g. llama3.2:1b=wasm)' },
  { name: 'TESSERA_TUNE', default: 'on', help: 'autotune the matmul thread split on first load per machine (on|off); results kept in the storage' },
  { name: 'TESSERA_TUNE_BUDGET_MS', default: '2 ms per MiB, 50..2000', help: 'time budget of one model\'s tuning' },
  { name: 'TESSERA_KEEP_ALIVE', default: '5m', help: 'how long a model stays loaded after its last request (duration or seconds; negative: forever; 0: unload at once)' },
  { name: 'TESSERA_MAX_LOADED_MODELS', default: '3', help: 'most models loaded at once (least recently used idle one unloaded first)' },
  { name: 'TESSERA_MEMORY_BUDGET', default: '0 (unlimited)', help: 'bytes of model memory (weights + KV cache) allowed in total; suffixes K/M/G accepted' },
  { name: 'TESSERA_NUM_PARALLEL', default: '4', help: 'generations decoded together per model (continuous batching: one forward for all) and requests served at once' },
  { name: 'TESSERA_MAX_QUEUE', default: '512', help: 'requests allowed to wait; past it the server answers 503' },
  { name: 'TESSERA_STORAGE', default: 'fs', help: 'storage for the KV prefix cache (full pages written behind, found again after a restart or by other replicas) and image tensors: fs | redis | memory | off' },
  { name: 'TESSERA_STORAGE_URL', default: '$TESSERA_HOME/cache (fs)', help: 'storage location: a directory (fs) or redis://host:port/db; ?budget=8GiB sets the byte budget (fs default 4GiB)' },
  { name: 'TESSERA_API_KEY', default: '(none)', help: 'require "Authorization: Bearer <key>" on every route except GET/HEAD /' },
  { name: 'TESSERA_ORIGINS', default: '(loopback origins)', help: 'comma-separated CORS origins allowed, or *' },
  { name: 'TESSERA_MAX_BODY', default: '100M', help: 'largest request body (413 past it); blob uploads stream to disk and are not limited' },
  { name: 'TESSERA_LOG', default: 'json', help: 'request log format: json | text | off' },
  { name: 'TESSERA_REGISTRY_TOKEN', default: '(anonymous)', help: 'bearer token for pulls from a registry (without one, the registry token challenge is answered anonymously)' },
];

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** "10", "512K", "1.5G" → bytes (binary units). */
export function parseBytes(s: string, name: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?\s*$/i.exec(s);
  if (!m) throw new ConfigError(`${name}: expected a byte size like 512M, got '${s}'`);
  const mul = { '': 1, K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 }[m[2].toUpperCase() as '' | 'K' | 'M' | 'G' | 'T'];
  return Math.round(Number(m[1]) * mul);
}

/** "host:port", "host", ":port", "[::1]:8080", optionally with http:// → { host, port }. */
export function parseHost(s: string): { host: string; port: number } {
  let v = s.trim().replace(/^https?:\/\//, '').replace(/\/+$/, '');
  let host = '127.0.0.1';
  let port = 11434;
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(v);
  if (m) {
    host = m[1];
    if (m[2]) port = Number(m[2]);
  } else if (v.includes(':') && v.indexOf(':') === v.lastIndexOf(':')) {
    const [h, p] = v.split(':');
    if (h) host = h;
    if (p) port = Number(p);
  } else if (v) {
    host = v;
  }
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ConfigError(`TESSERA_HOST: bad port in '${s}'`);
  return { host, port };
}

function int(env: Record<string, string | undefined>, name: string, dflt: number, min: number): number {
  const v = env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new ConfigError(`${name}: expected an integer ≥ ${min}, got '${v}'`);
  return n;
}

/** Reads the variables of CONFIG_VARS. @throws ConfigError naming the variable. */
export function loadServerConfig(env: Record<string, string | undefined> = process.env): ServerConfig {
  const { host, port } = parseHost(env.TESSERA_HOST ?? '');
  const home = env.TESSERA_HOME || join(homedir(), '.tessera');
  const keepAlive = parseKeepAlive(env.TESSERA_KEEP_ALIVE ?? '5m');
  if (keepAlive === null) throw new ConfigError(`TESSERA_KEEP_ALIVE: expected a duration like 5m or seconds, got '${env.TESSERA_KEEP_ALIVE}'`);
  const log = (env.TESSERA_LOG ?? 'json') as ServerConfig['log'];
  if (!['json', 'text', 'off'].includes(log)) throw new ConfigError(`TESSERA_LOG: expected json, text or off, got '${log}'`);
  const storage = env.TESSERA_STORAGE || 'fs';
  if (!['memory', 'fs', 'redis', 'off'].includes(storage)) throw new ConfigError(`TESSERA_STORAGE: expected fs, redis, memory or off, got '${storage}'`);
  if (storage === 'redis' && !env.TESSERA_STORAGE_URL) throw new ConfigError('TESSERA_STORAGE=redis needs TESSERA_STORAGE_URL (redis://host:port/db)');
  return {
    host,
    port,
    home,
    modelsDir: env.TESSERA_MODELS || join(home, 'models'),
    ollamaModelsDir: env.OLLAMA_MODELS === 'off' ? undefined : env.OLLAMA_MODELS || join(homedir(), '.ollama', 'models'),
    threads: env.TESSERA_THREADS ? int(env, 'TESSERA_THREADS', 1, 1) : undefined,
    keepAliveMs: keepAlive,
    maxLoadedModels: int(env, 'TESSERA_MAX_LOADED_MODELS', 3, 1),
    memoryBudget: env.TESSERA_MEMORY_BUDGET ? parseBytes(env.TESSERA_MEMORY_BUDGET, 'TESSERA_MEMORY_BUDGET') : 0,
    numParallel: int(env, 'TESSERA_NUM_PARALLEL', 4, 1),
    maxQueue: int(env, 'TESSERA_MAX_QUEUE', 512, 0),
    storage,
    storageUrl: env.TESSERA_STORAGE_URL || (storage === 'fs' ? join(home, 'cache') : undefined),
    apiKey: env.TESSERA_API_KEY || undefined,
    origins: (env.TESSERA_ORIGINS ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    maxBodyBytes: parseBytes(env.TESSERA_MAX_BODY ?? '100M', 'TESSERA_MAX_BODY'),
    log,
    backend: backendOf(env.TESSERA_BACKEND, 'TESSERA_BACKEND', 'wasm'),
    modelBackends: parseModelBackends(env.TESSERA_MODEL_BACKENDS ?? ''),
    tune: onOff(env.TESSERA_TUNE ?? 'on', 'TESSERA_TUNE'),
    tuneBudgetMs: env.TESSERA_TUNE_BUDGET_MS ? int(env, 'TESSERA_TUNE_BUDGET_MS', 0, 1) : undefined,
  };
}

function backendOf(v: string | undefined, name: string, dflt: BackendRequest = 'auto'): BackendRequest {
  const s = (v ?? '').trim() || dflt;
  if (s !== 'auto' && !(BACKEND_KINDS as readonly string[]).includes(s)) throw new ConfigError(`${name}: expected auto, ${BACKEND_KINDS.join(', ')}; got '${s}'`);
  return s as BackendRequest;
}

function parseModelBackends(v: string): Record<string, BackendRequest> {
  const out: Record<string, BackendRequest> = {};
  for (const pair of v.split(',').map((p) => p.trim()).filter(Boolean)) {
    const i = pair.lastIndexOf('=');
    if (i <= 0) throw new ConfigError(`TESSERA_MODEL_BACKENDS: expected name=kind, got '${pair}'`);
    out[pair.slice(0, i).trim()] = backendOf(pair.slice(i + 1), `TESSERA_MODEL_BACKENDS (${pair.slice(0, i).trim()})`);
  }
  return out;
}

function onOff(v: string, name: string): boolean {
  if (['on', '1', 'true'].includes(v)) return true;
  if (['off', '0', 'false'].includes(v)) return false;
  throw new ConfigError(`${name}: expected on or off, got '${v}'`);
}

/** The variables table for `tessera serve --help`. */
export function configHelp(): string {
  const w = Math.max(...CONFIG_VARS.map((v) => v.name.length));
  return CONFIG_VARS.map((v) => `  ${v.name.padEnd(w)}  ${v.help} (default: ${v.default})`).join('\n');
}
