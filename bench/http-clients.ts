/**
 * Streaming /api/generate clients for the continuous-batching benchmarks (bench/parallel.ts, parallel-trace.ts),
 * run in a process of their own by default, as a load generator is: the server's process then carries only the
 * server (its event loop, its garbage and its GC threads), not the clients' fetch parsing.
 *
 * As a child: node dist/bench/http-clients.js BASE PREDICT PROMPT_JSON… — runs one client per prompt at once and
 * prints RESULT_MARKER + JSON ClientRun[] (times in epoch ms, so that the parent can place them on its own clock).
 */
import { fileURLToPath } from 'node:url';
import { runChild } from './child.ts';
import { RESULT_MARKER } from './types.ts';

/** One client's run: when each token came (epoch ms, sub-ms; each streamed chunk), when it ended, tokens generated. */
export interface ClientRun {
  times: number[];
  end: number;
  n: number;
}

/** performance.now() on the epoch clock: comparable between processes. */
export const epochNow = (): number => performance.timeOrigin + performance.now();

/** One streamed /api/generate (raw prompt, greedy) against `base`; one time per chunk. */
export async function streamGenerate(base: string, prompt: string, predict: number): Promise<ClientRun> {
  const res = await fetch(`${base}/api/generate`, {
    method: 'POST',
    body: JSON.stringify({ model: 'bench', prompt, raw: true, stream: true, options: { temperature: 0, num_predict: predict } }),
  });
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  const times: number[] = [];
  let buf = '';
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (!line.trim()) continue;
      const o = JSON.parse(line);
      if (o.done) n = o.eval_count;
      else times.push(epochNow()); // one chunk per token, or fewer (text held back): never more tokens
    }
  }
  return { times, end: epochNow(), n };
}

/**
 * Runs one client per prompt, all at once: in a child process (`separate`, the default), or in this one.
 * Times are epoch ms.
 */
export async function runHttpClients(base: string, prompts: string[], predict: number, separate = true): Promise<ClientRun[]> {
  if (!separate) return Promise.all(prompts.map((p) => streamGenerate(base, p, predict)));
  const script = fileURLToPath(import.meta.url);
  return runChild<ClientRun[]>(process.execPath, [script, base, String(predict), ...prompts.map((p) => JSON.stringify(p))], { timeoutMs: 600_000, verbose: false });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [base, predict, ...prompts] = process.argv.slice(2);
  Promise.all(prompts.map((p) => streamGenerate(base, JSON.parse(p) as string, Number(predict))))
    .then((runs) => console.log(RESULT_MARKER + JSON.stringify(runs)))
    .catch((e) => {
      console.error(e);
      process.exit(1);
    });
}
