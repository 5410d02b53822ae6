/** Server settings from the environment, shared by the runtime adapters. */
export const port = Number(process.env.TESSERA_PORT ?? process.env.PORT ?? 11434);
export const hostname = process.env.TESSERA_HOST ?? '127.0.0.1';
export const threads = process.env.TESSERA_THREADS ? Number(process.env.TESSERA_THREADS) : undefined;
export const modelsDir = process.env.TESSERA_MODELS;
