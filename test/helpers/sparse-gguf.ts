/**
 * A GGUF whose header describes tensors that are never written: the file is extended to its full size with
 * truncate(), so it is sparse (no disk used). Enough for anything that reads only the header (memory planning).
 */
import { openSync, closeSync, writeSync, ftruncateSync } from 'node:fs';
import { encodeGgufHeader, type GgufWriteSpec } from '../../src/gguf/writer.ts';

export function writeSparseGguf(path: string, spec: GgufWriteSpec): number {
  const { header, alignment, sizes } = encodeGgufHeader(spec, path);
  let size = header.length;
  for (const s of sizes) size += Math.ceil(s / alignment) * alignment;
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, header);
    ftruncateSync(fd, size);
  } finally {
    closeSync(fd);
  }
  return size;
}
