/** Bun adapter: `bun adapters/bun.ts`. */
import { createApp } from '../src/server/app.ts';
import { hostname, modelsDir, port, threads } from './config.ts';

const app = createApp({ modelsDir, threads });
export default { fetch: app.fetch, port, hostname, idleTimeout: 0 };
