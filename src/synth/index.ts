export { type SynthBertSpec, writeSyntheticBert } from './bert.ts';
export { type SynthLlamaSpec, type SynthWeightType, generateWeight, planSynthLlama, resolveSynthLlama, synthLlamaMetadata, writeSyntheticLlama } from './llama.ts';
export { tinyLlamaVocab } from './tiny-vocab.ts';
export { Xoshiro128, fnv1a } from './prng.ts';
export { type SynthMmprojSpec, type SynthProjector, planSynthMmproj, synthMmprojMetadata, writeSyntheticMmproj } from './mmproj.ts';
