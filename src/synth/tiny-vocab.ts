import { type GgufValue, GgufValueType, gv } from '../gguf/types.ts';

/** llama.cpp token types (llama_token_type / LLAMA_TOKEN_TYPE_*). */
const NORMAL = 1, UNKNOWN = 2, CONTROL = 3, BYTE = 6;

/**
 * A tiny SentencePiece-style ("llama") vocabulary, enough for llama.cpp to load a model:
 * 0 `<unk>`, 1 `<s>`, 2 `</s>`, 3..258 the byte tokens `<0x00>`..`<0xFF>`, then `extra` pieces
 * (default: ▁ and a few words; SentencePiece merges need their halves, so e.g. ▁hello is unreachable), with
 * scores rising with the id. BOS 1, EOS 2, UNK 0.
 * Returns the tokenizer.ggml.* keys.
 */
export function tinyLlamaVocab(extra: string[] = ['▁', '▁the', '▁a', 'e', 't', '▁hello', '▁world', 'he', 'll', 'o']): Record<string, GgufValue> {
  const tokens = ['<unk>', '<s>', '</s>'];
  const types = [UNKNOWN, CONTROL, CONTROL];
  for (let b = 0; b < 256; b++) {
    tokens.push(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`);
    types.push(BYTE);
  }
  for (const p of extra) {
    tokens.push(p);
    types.push(NORMAL);
  }
  const scores = new Float32Array(tokens.length);
  for (let i = 259; i < tokens.length; i++) scores[i] = -(tokens.length - i);
  return {
    'tokenizer.ggml.model': gv.str('llama'),
    'tokenizer.ggml.tokens': gv.arr(GgufValueType.STRING, tokens),
    'tokenizer.ggml.scores': gv.arr(GgufValueType.FLOAT32, scores),
    'tokenizer.ggml.token_type': gv.arr(GgufValueType.INT32, Int32Array.from(types)),
    'tokenizer.ggml.bos_token_id': gv.u32(1),
    'tokenizer.ggml.eos_token_id': gv.u32(2),
    'tokenizer.ggml.unknown_token_id': gv.u32(0),
    'tokenizer.ggml.add_bos_token': gv.bool(true),
    'tokenizer.ggml.add_eos_token': gv.bool(false),
  };
}
