/** Vision encoders of llama.cpp mmproj files (CLIP/llava 'mlp', SigLIP 'gemma3'). */
export { VisionEncoder, type VisionEncoderOptions } from './encoder.ts';
export { readVisionHParams, type VisionFfnAct, type VisionHParams, type VisionProjector } from './hparams.ts';
export { unfoldPatches } from './patches.ts';
