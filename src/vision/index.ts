/** Vision input: decode (PNG, JPEG, WebP, GIF) → RGB, resample + normalise in the WASM core, tiles with coordinates. */
export { decodeImage, DEFAULT_MAX_BYTES, DEFAULT_MAX_PIXELS, type DecodedImage, type DecodeLimits } from './decode.ts';
export { ImageError, type ImageErrorReason } from './errors.ts';
export { readImageHeader, sniffImageFormat, type ImageFormat, type ImageHeader } from './sniff.ts';
export { CoreImage, resampleScratchBytes, type PixelBox, type ResampleFilter, type ResampleSpec } from './preprocess.ts';
export { planTiles, tileTensors, type Tile, type TileGrid, type TileNorm, type TileOptions } from './tiles.ts';
export { VisionEncoder, readVisionHParams, type VisionEncoderOptions, type VisionHParams, type VisionProjector } from './encoder/index.ts';
export { ImageCache, type EncodedImage, type ImageCacheOptions, type ImagePreprocessing, type TileEncoder } from './cache.ts';
export { gemma3ImageTokens, prefillWithImage, type ImagePrefill } from './text-input.ts';
