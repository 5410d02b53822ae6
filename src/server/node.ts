/** Serving the app on Node with @hono/node-server; used by adapters/node.ts and `tessera serve`. */
import { serve } from '@hono/node-server';
import { createApp } from './app.ts';
import type { ServerConfig } from './config.ts';

/** Starts listening; resolves with the bound port once it listens. SIGINT/SIGTERM close it and unload models. */
export function serveNode(config: ServerConfig): Promise<{ port: number; close(): Promise<void> }> {
  const app = createApp(config);
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, (info) => {
      console.log(`tessera listening on http://${info.address}:${info.port} (models: ${config.modelsDir})`);
      if (!config.apiKey && !['127.0.0.1', 'localhost', '::1'].includes(config.host)) {
        console.warn('tessera: listening beyond loopback without TESSERA_API_KEY: anyone who can reach this port can use it');
      }
      const close = () => new Promise<void>((r) => server.close(() => r())).then(() => app.close());
      const stop = () => void close().then(() => process.exit(0));
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      resolve({ port: info.port, close });
    });
  });
}
