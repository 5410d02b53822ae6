/** Deno adapter: `deno run -A adapters/deno.ts`. */
import { createApp } from '../src/server/app.ts';
import { hostname, modelsDir, port, threads } from './config.ts';

const app = createApp({ modelsDir, threads });
// @ts-ignore: Deno global, type-checked by Deno itself.
Deno.serve({ port, hostname }, app.fetch);
