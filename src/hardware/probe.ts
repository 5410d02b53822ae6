/**
 * Time-bounded probes: each hardware probe runs under its own deadline, and a probe that throws or
 * overruns yields `{ ok: false, error }` instead of failing detection (it only removes its backend).
 *
 * @example
 * const r = await runProbe('webgpu', 3000, () => probeWebGpu());
 * if (!r.ok) console.log(`webgpu unavailable: ${r.error}`);
 */

export type ProbeOutcome<T> =
  | { ok: true; value: T; ms: number }
  | { ok: false; error: string; ms: number; timedOut: boolean };

/** Runs `fn` with a deadline of `timeoutMs`; never throws. (A synchronous probe can't be interrupted: its time is still reported.) */
export async function runProbe<T>(name: string, timeoutMs: number, fn: () => T | Promise<T>): Promise<ProbeOutcome<T>> {
  const t0 = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
    (timer as { unref?: () => void }).unref?.();
  });
  try {
    const r = await Promise.race([Promise.resolve().then(fn), deadline]);
    const ms = performance.now() - t0;
    if (r === 'timeout') return { ok: false, error: `${name} probe timed out after ${timeoutMs} ms`, ms, timedOut: true };
    return { ok: true, value: r as T, ms };
  } catch (e) {
    return { ok: false, error: `${name} probe failed: ${(e as Error)?.message ?? String(e)}`, ms: performance.now() - t0, timedOut: false };
  } finally {
    clearTimeout(timer);
  }
}
