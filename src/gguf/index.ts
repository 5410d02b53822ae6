/** GGUF reading, writing, ggml type traits and reference quantizers. */
export { GgufError } from './errors.ts';
export { GGML_TYPE_TRAITS, type GgmlTypeTraits, ggmlByteSize, ggmlTypeName, ggmlTypeTraits } from './ggml-types.ts';
export {
  bf16BitsToFp32, dequantize, dequantizeRowQ4_0, dequantizeRowQ8_0, fp16BitsToFp32, fp32ToBf16Bits, fp32ToFp16Bits,
  quantize, quantizeInto, quantizeRowQ4_0, quantizeRowQ8_0, REFERENCE_QUANT_TYPES,
  dequantizeRowIQ4_NL, dequantizeRowQ4_1, dequantizeRowQ5_0, dequantizeRowQ5_1, IQ4NL_VALUES,
  quantizeRowIQ4_NL, quantizeRowQ4_1, quantizeRowQ5_0, quantizeRowQ5_1,
} from './quant.ts';
export { GgufFile, type GgufMetaType, type GgufTensorInfo, openGguf, parseGguf, readTensor, readTensorInto } from './reader.ts';
export { GGUF_DEFAULT_ALIGNMENT, GgmlType, type GgufArrayValue, type GgufScalarValue, type GgufValue, GgufValueType, ggufValueTypeName, gv } from './types.ts';
export { encodeGguf, type GgufTensorData, type GgufTensorSpec, type GgufWriteSpec, writeGguf } from './writer.ts';
