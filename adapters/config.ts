/** Server settings for the runtime adapters: the environment (TESSERA_HOST=host:port, …; see src/server/config.ts). */
import { loadServerConfig } from '../src/server/config.ts';

export const config = loadServerConfig();
