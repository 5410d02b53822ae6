/** Deno adapter: `deno run -A adapters/deno.ts` (listens on TESSERA_HOST, default 127.0.0.1:11434). */
import { createApp } from '../src/server/app.ts';
import { config } from './config.ts';

const app = createApp(config);
// @ts-ignore: Deno global, type-checked by Deno itself.
Deno.serve({ port: config.port, hostname: config.host, onListen: () => console.log(`tessera listening on http://${config.host}:${config.port} (models: ${config.modelsDir})`) }, app.fetch);
