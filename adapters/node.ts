/** Node adapter: `node dist/adapters/node.js` (npm start). */
import { serve } from '@hono/node-server';
import { createApp } from '../src/server/app.ts';
import { hostname, modelsDir, port, threads } from './config.ts';

const app = createApp({ modelsDir, threads });
serve({ fetch: app.fetch, port, hostname }, (info) => {
  console.log(`tessera listening on http://${info.address}:${info.port} (models: ${app.registry.dir})`);
});
