/** Tessera's library API. */
export { createEngine, Engine, EngineClosedError } from './engine.ts';
export type { ChatMessage, ChatRequest, DoneReason, EngineOptions, GenerateChunk, GenerateRequest, GenerateStats, Generation, ModelInfo, TokenLogprob } from './engine.ts';
export { TesseraError, ValidationError } from './errors.ts';
export { KvCacheFullError } from './kv/cache.ts';
export { ModelFormatError, UnsupportedArchitectureError } from './model/hparams.ts';
export { UnsupportedTensorTypeError } from './model/weights.ts';
export { DEFAULT_OPTIONS } from './sampling/options.ts';
export type { GenerateOptions, ResolvedOptions } from './sampling/options.ts';
export { QUANT_TARGETS, QuantizeError, type QuantizeResult, quantizeGguf } from './quantize/index.ts';
export { VERSION } from './version.ts';
export { createStorage, openGuardedStorage, GuardedStorage, StorageError, type Storage, type StoredValue, type StoredTensor, type StorageConfig } from './storage/index.ts';
export { createApp, type AppOptions, type TesseraApp } from './server/app.ts';
export { CONFIG_VARS, loadServerConfig, type ServerConfig } from './server/config.ts';
export { decodeImage, ImageError, CoreImage, planTiles, tileTensors, type DecodedImage, type DecodeLimits, type ResampleSpec, type Tile, type TileGrid } from './vision/index.ts';
