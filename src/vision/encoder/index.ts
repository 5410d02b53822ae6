/** Vision encoders of llama.cpp mmproj files (CLIP/llava 'mlp', SigLIP 'gemma3'). */
export { VisionEncoder, type VisionEncoderOptions } from './encoder.ts';
export { readVisionHParams, type VisionFfnAct, type VisionHParams, type VisionProjector } from './hparams.ts';
export { unfoldPatches } from './patches.ts';
/** 2D-RoPE towers (Pixtral / Mistral 3, Qwen2.5-VL). */
export { RopeVisionEncoder, type RopeVisionEncoderOptions, type RopeVisionOutput, UnsupportedRopeModeError } from './rope-encoder.ts';
export { isRopeVisionFile, readRopeVisionHParams, type RopeVisionHParams, type RopeVisionProjector } from './rope-hparams.ts';
export { mropeOfPrompt, pixtralTokenLayout, type PixtralToken, qwenImagePositions } from './rope-layout.ts';
