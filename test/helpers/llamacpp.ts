/**
 * Runs the llama.cpp oracle (test/oracle/llamacpp.mjs) in a child process.
 *
 * Recorded results, for machines without node-llama-cpp (the lent GPU machine, test/cuda/run-on-gpu.sh):
 * TESSERA_ORACLE_DIR=dir answers a request from `dir/<key>.json` when present, else runs the oracle and, with
 * TESSERA_ORACLE_RECORD=1, writes its answer there. The key hashes the model file's bytes and the request.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type TopLogprobs = [id: number, logprob: number][];

export interface OracleResult {
  /** Per prompt position: llama.cpp's top-k (id, log-prob) of the next token, best first. */
  top: TopLogprobs[];
  /** Greedy continuation after the prompt. */
  greedy: number[];
  /** greedyTop[i]: the distribution after greedy[i] was evaluated (it chose greedy[i+1]). */
  greedyTop: TopLogprobs[];
}

const SCRIPT = fileURLToPath(new URL('../oracle/llamacpp.mjs', import.meta.url));

export function runLlamaCpp(req: { model: string; tokens: number[]; topK?: number; nPredict?: number; threads?: number; flashAttention?: boolean; batchSize?: number; kvTypeK?: string; kvTypeV?: string }): Promise<OracleResult> {
  return runOracle(req) as Promise<OracleResult>;
}

async function runOracle(req: object): Promise<unknown> {
  const dir = process.env.TESSERA_ORACLE_DIR;
  const model = (req as { model?: string }).model;
  if (!dir || !model) return spawnOracle(req);
  const h = createHash('sha256').update(readFileSync(model)).update(JSON.stringify({ ...req, model: undefined }));
  const file = join(dir, `${h.digest('hex').slice(0, 24)}.json`);
  if (existsSync(file)) return JSON.parse(readFileSync(file, 'utf8'));
  const res = await spawnOracle(req);
  if (process.env.TESSERA_ORACLE_RECORD === '1') {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, JSON.stringify(res));
  }
  return res;
}

function spawnOracle(req: object): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [SCRIPT], { env: { ...process.env, UV_THREADPOOL_SIZE: '1' }, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`llama.cpp oracle exited with ${code}: ${err.slice(-2000)}`));
      try {
        resolve(JSON.parse(out));
      } catch (e) {
        reject(new Error(`llama.cpp oracle printed invalid JSON: ${out.slice(0, 200)} ${err.slice(-1000)}`));
      }
    });
    child.stdin.end(JSON.stringify(req));
  });
}

/** llama.cpp's embeddings of `texts` (its pooling), and its tokenization of each (with special tokens). */
export async function runLlamaCppEmbed(req: { model: string; texts: string[]; threads?: number }): Promise<{ embeddings: number[][]; tokens: number[][] }> {
  return (await runOracle({ ...req, embed: true })) as unknown as { embeddings: number[][]; tokens: number[][] };
}

/** log-softmax of a logits row in float64. */
export function logSoftmax(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of logits) if (v > max) max = v;
  let sum = 0;
  for (const v of logits) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i] - lse;
  return out;
}
