/** What every CLI command shares: the usage error (exit 2), number flags, help handling. */

/** A mistake in the command line: printed with the command's help, exit code 2. */
export class UsageError extends Error {
  constructor(
    message: string,
    readonly help?: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A failure the user should read without a stack (server unreachable, an API error): exit code 1. */
export class CliError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliError';
  }
}

export function num(v: string | undefined, name: string, help?: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new UsageError(`--${name} expects a number, got '${v}'`, help);
  return n;
}

/** Bytes as `ollama list` shows them: "1.3 GB", "120 MB", "800 KB" (decimal units). */
export function humanBytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)} GB`;
  if (n >= 1e6) return `${Math.round(n / 1e6)} MB`;
  if (n >= 1e3) return `${Math.round(n / 1e3)} KB`;
  return `${n} B`;
}

/** "3 minutes ago", "2 days ago", "About a minute from now" style. */
export function humanSince(iso: string, now = Date.now()): string {
  const d = Date.parse(iso) - now;
  const s = Math.abs(d) / 1000;
  const [v, u] = s < 60 ? [Math.round(s), 'second'] : s < 3600 ? [Math.round(s / 60), 'minute'] : s < 86400 ? [Math.round(s / 3600), 'hour'] : [Math.round(s / 86400), 'day'];
  const txt = `${v} ${u}${v === 1 ? '' : 's'}`;
  return d < 0 ? `${txt} ago` : `${txt} from now`;
}

/** Left-aligned columns separated by 4 spaces. */
export function table(rows: string[][]): string {
  const w = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i] + 4))).join('').trimEnd()).join('\n');
}
