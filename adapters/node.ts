/** Node adapter: `node dist/adapters/node.js` (npm start; listens on TESSERA_HOST, default 127.0.0.1:11434). */
import { serveNode } from '../src/server/node.ts';
import { config } from './config.ts';

serveNode(config);
