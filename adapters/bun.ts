/** Bun adapter: `bun adapters/bun.ts` (listens on TESSERA_HOST, default 127.0.0.1:11434). */
import { createApp } from '../src/server/app.ts';
import { config } from './config.ts';

const app = createApp(config);
console.log(`tessera listening on http://${config.host}:${config.port} (models: ${config.modelsDir})`);
export default { fetch: app.fetch, port: config.port, hostname: config.host, idleTimeout: 0 };
