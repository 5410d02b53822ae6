/**
 * Ollama's keep_alive: a Go duration string ("5m", "1h30m", "250ms", "-1s") or a number of seconds.
 * 0 unloads right after the request; a negative value keeps the model loaded indefinitely.
 */

const UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };

/** Milliseconds (Infinity for negative values), or null when `v` is not a duration. */
export function parseKeepAlive(v: unknown): number | null {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) return null;
    return v < 0 ? Infinity : v * 1000;
  }
  if (typeof v !== 'string') return null;
  const s = v.trim();
  if (s === '') return null;
  if (/^-?\d+(\.\d+)?$/.test(s)) return parseKeepAlive(Number(s));
  const m = /^(-?)((?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+)$/.exec(s);
  if (!m) return null;
  let ms = 0;
  for (const part of m[2].matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(part[1]) * UNIT_MS[part[2]];
  return m[1] === '-' ? (ms === 0 ? 0 : Infinity) : ms;
}
