/**
 * Structured logs: one JSON object per line on stderr (`{"time":"…","level":"info","method":"POST",…}`),
 * or a short text line, or nothing (TESSERA_LOG=json|text|off).
 */
export interface Logger {
  info(fields: Record<string, unknown>): void;
  error(fields: Record<string, unknown>): void;
}

export function createLogger(format: 'json' | 'text' | 'off', write: (line: string) => void = (l) => void process.stderr.write(l + '\n')): Logger {
  if (format === 'off') return { info: () => {}, error: () => {} };
  const emit = (level: string, f: Record<string, unknown>) => {
    if (format === 'json') write(JSON.stringify({ time: new Date().toISOString(), level, ...f }));
    else write(`${new Date().toISOString()} ${level.toUpperCase()} ${Object.entries(f).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join(' ')}`);
  };
  return { info: (f) => emit('info', f), error: (f) => emit('error', f) };
}
