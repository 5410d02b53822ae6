/**
 * `quantizeGguf`: a GGUF with F32/F16/BF16 weights → the same model in a quantization target, one tensor
 * at a time (peak memory ≈ one tensor's f32 values plus its output), metadata copied with
 * `general.file_type` and `general.quantization_version` set, as llama-quantize writes them.
 */
import { TesseraError } from '../errors.ts';
import { ggmlByteSize, ggmlTypeName } from '../gguf/ggml-types.ts';
import { dequantize, quantizeInto } from '../gguf/quant.ts';
import { openGguf, readTensor } from '../gguf/reader.ts';
import { GgmlType, GgufValueType } from '../gguf/types.ts';
import { metadataValues } from '../gguf/values.ts';
import { type GgufTensorSpec, writeGguf } from '../gguf/writer.ts';
import { QUANT_TARGETS, quantTarget } from './ftypes.ts';
import { isQuantizable, planTypes } from './plan.ts';

/** A quantization request that can't be carried out: unknown target, unsupported source or target type. */
export class QuantizeError extends TesseraError {
  constructor(message: string) {
    super('quantize_failed', message);
  }
}

export interface QuantizeResult {
  /** Tensor name → type written. */
  types: Map<string, GgmlType>;
  bytesIn: number;
  bytesOut: number;
}

const SOURCE_TYPES = new Set([GgmlType.F32, GgmlType.F16, GgmlType.BF16]);

/** Rows quantized per step, so the f32 staging stays ≤ 16 Mi values for any tensor. */
const STAGE_VALUES = 1 << 24;

/**
 * Quantizes `inPath` to `target` (a llama-quantize name: Q4_0, Q8_0, Q4_K_M, ...) into `outPath`.
 * Throws QuantizeError for an unknown target, a tensor to quantize that is not F32/F16/BF16, or a type
 * this build cannot quantize to; GgufError for an unreadable input.
 */
export async function quantizeGguf(inPath: string, outPath: string, targetName: string): Promise<QuantizeResult> {
  const target = quantTarget(targetName);
  if (!target) throw new QuantizeError(`unknown quantization type '${targetName}' (one of ${[...QUANT_TARGETS.keys()].join(', ')})`);
  const file = await openGguf(inPath);
  const arch = file.getStr('general.architecture', '');
  const nHead = file.getU32(`${arch}.attention.head_count`, 0);
  const nHeadKv = file.getU32(`${arch}.attention.head_count_kv`, nHead);
  const types = planTypes(file.tensors, { arch, nGqa: nHead && nHeadKv ? nHead / nHeadKv : 1 }, target);

  // Check everything before writing anything.
  for (const t of file.tensors) {
    const to = types.get(t.name)!;
    if (to === t.type) continue;
    if (!SOURCE_TYPES.has(t.type)) {
      throw new QuantizeError(`${inPath}: tensor ${t.name} is ${ggmlTypeName(t.type)}; quantize needs F32, F16 or BF16 weights (re-quantizing loses accuracy)`);
    }
    if (!isQuantizable(t) && to !== t.type) throw new QuantizeError(`internal: plan changed the type of ${t.name}`);
    try {
      quantizeInto(to, new Float32Array(0), new Uint8Array(0));
    } catch {
      throw new QuantizeError(`quantizing to ${ggmlTypeName(to)} (tensor ${t.name}) is not supported by this build`);
    }
  }

  const metadata = metadataValues(file);
  metadata['general.file_type'] = { type: GgufValueType.UINT32, value: target.ftype };
  metadata['general.quantization_version'] = { type: GgufValueType.UINT32, value: 2 };

  let bytesOut = 0;
  const tensors: GgufTensorSpec[] = file.tensors.map((t) => {
    const to = types.get(t.name)!;
    bytesOut += ggmlByteSize(to, t.nElements);
    return {
      name: t.name,
      type: to,
      dims: [...t.dims],
      data: async () => {
        const raw = await readTensor(file, t);
        if (to === t.type) return raw;
        const rowLen = t.dims[0];
        const nRows = t.nElements / rowLen;
        const out = new Uint8Array(ggmlByteSize(to, t.nElements));
        const rowsPerStep = Math.max(1, Math.floor(STAGE_VALUES / rowLen));
        const inRow = ggmlByteSize(t.type, rowLen);
        const outRow = ggmlByteSize(to, rowLen);
        for (let r = 0; r < nRows; r += rowsPerStep) {
          const rows = Math.min(rowsPerStep, nRows - r);
          const f32 = dequantize(t.type, raw.subarray(r * inRow, (r + rows) * inRow), rows * rowLen);
          quantizeInto(to, f32, out.subarray(r * outRow, (r + rows) * outRow));
        }
        return out;
      },
    };
  });
  await writeGguf(outPath, { version: 3, alignment: file.alignment, metadata, tensors });
  return { types, bytesIn: file.fileSize, bytesOut };
}
