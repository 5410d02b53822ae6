/** Loading named GGUF tensors into backend memory, with shape and type checks. */
import { TesseraError } from '../errors.ts';
import type { Backend, Tensor } from '../backend/backend.ts';
import type { GgufFile } from '../gguf/reader.ts';
import { readTensorInto } from '../gguf/reader.ts';
import { GgmlType } from '../gguf/types.ts';
import { ModelFormatError } from './hparams.ts';

export class UnsupportedTensorTypeError extends TesseraError {
  constructor(path: string, tensor: string, type: GgmlType, backend: string) {
    super('unsupported_tensor_type', `${path}: tensor '${tensor}' has type ${GgmlType[type] ?? `#${type}`}, which the ${backend} backend does not support yet`);
  }
}

export class WeightLoader {
  constructor(
    private readonly file: GgufFile,
    private readonly be: Backend,
  ) {}

  has(name: string): boolean {
    return this.file.tensorByName.has(name);
  }

  /** Load tensor `name`, checking that its GGUF dims equal `dims` (ggml order). */
  async load(name: string, dims: number[]): Promise<Tensor> {
    const info = this.file.tensorByName.get(name);
    if (!info) throw new ModelFormatError(this.file.path, `missing tensor '${name}'`);
    if (info.dims.length !== dims.length || info.dims.some((d, i) => d !== dims[i])) {
      throw new ModelFormatError(this.file.path, `tensor '${name}' has shape [${info.dims.join(', ')}], expected [${dims.join(', ')}]`);
    }
    const isVector = dims.length === 1;
    if (isVector ? info.type !== GgmlType.F32 : !this.be.supportsWeightType(info.type)) {
      throw new UnsupportedTensorTypeError(this.file.path, name, info.type, this.be.name);
    }
    return this.be.weight(info.type, dims, (dest) => readTensorInto(this.file, info, dest));
  }

  async loadOptional(name: string, dims: number[]): Promise<Tensor | null> {
    return this.has(name) ? this.load(name, dims) : null;
  }
}
