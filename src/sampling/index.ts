/** Sampling, generation options, stop strings and streaming text assembly. */
export {
  DEFAULT_OPTIONS,
  generateOptionsSchema,
  resolveOptions,
  unknownOptionKeys,
  type GenerateOptions,
  type ResolvedOptions,
} from './options.ts';
export { Sampler } from './sampler.ts';
export { topLogprobs, TopLogprobs } from './logprobs.ts';
export { StopMatcher, type StopResult } from './stop.ts';
export { Utf8Stream } from './utf8.ts';
export { TextStream } from './text-stream.ts';
export { Xoshiro128, randomSeed } from './prng.ts';
