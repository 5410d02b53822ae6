/**
 * A throwaway redis-server for tests: on a free loopback port, no persistence (`--save '' --appendonly no`),
 * stopped after the file. `redisServerBinary` is undefined where redis-server is not installed; with
 * TESSERA_REQUIRE_REDIS=1 (set by .ci/run) tests must fail rather than skip then.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const redisServerBinary: string | undefined = ['redis-server', '/usr/bin/redis-server', '/usr/local/bin/redis-server'].find((b) => {
  try {
    execFileSync(b, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});
export const redisRequired = process.env.TESSERA_REQUIRE_REDIS === '1';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ port, host: '127.0.0.1' });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

export class RedisServer {
  private proc: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), 'tessera-redis-'));
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  static async start(port?: number): Promise<RedisServer> {
    if (!redisServerBinary) throw new Error('redis-server is not installed (apt-get install redis-server)');
    const s = new RedisServer(port ?? (await freePort()));
    await s.start();
    return s;
  }

  /** Start (again) on the same port; resolves once it accepts connections. */
  async start(): Promise<void> {
    const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir, '--loglevel', 'warning'];
    const proc = spawn(redisServerBinary!, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = proc;
    let stderr = '';
    proc.stderr!.on('data', (d) => (stderr += d));
    const deadline = Date.now() + 15_000;
    while (!(await accepts(this.port))) {
      if (proc.exitCode !== null) throw new Error(`redis-server exited with ${proc.exitCode}: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`redis-server did not accept connections on ${this.port} within 15 s`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Stop the server: SIGKILL (a crash) or SIGTERM; resolves when the process is gone. */
  async stop(signal: 'SIGKILL' | 'SIGTERM' = 'SIGTERM'): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve());
      p.kill(signal);
    });
  }

  async dispose(): Promise<void> {
    await this.stop('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }
}
