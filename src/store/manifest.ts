/**
 * OCI-style manifests as Ollama writes them (`models/manifests/<host>/<ns>/<model>/<tag>`): a config blob
 * and layers, each `{ mediaType, digest: "sha256:<hex>", size }` pointing at `models/blobs/sha256-<hex>`.
 */
import { TesseraError } from '../errors.ts';

export const MANIFEST_MEDIA_TYPE = 'application/vnd.docker.distribution.manifest.v2+json';
export const CONFIG_MEDIA_TYPE = 'application/vnd.docker.container.image.v1+json';
export const LAYER = {
  model: 'application/vnd.ollama.image.model',
  template: 'application/vnd.ollama.image.template',
  system: 'application/vnd.ollama.image.system',
  params: 'application/vnd.ollama.image.params',
  license: 'application/vnd.ollama.image.license',
  /** A vision projector (llama.cpp mmproj GGUF), as Ollama stores one beside the model. */
  projector: 'application/vnd.ollama.image.projector',
} as const;

export interface Layer {
  mediaType: string;
  /** `sha256:<64 hex>`. */
  digest: string;
  /** Bytes. */
  size: number;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType: string;
  config: Layer;
  layers: Layer[];
}

const DIGEST = /^sha256[:-]([0-9a-f]{64})$/;

/** `sha256:<hex>` or `sha256-<hex>` → hex, or null. */
export function parseDigest(d: string): string | null {
  const m = typeof d === 'string' ? DIGEST.exec(d) : null;
  return m ? m[1] : null;
}

export class InvalidManifestError extends TesseraError {
  constructor(where: string, why: string) {
    super('invalid_manifest', `invalid manifest ${where}: ${why}`);
  }
}

function checkLayer(l: unknown, where: string): Layer {
  const o = l as Layer;
  if (!o || typeof o !== 'object' || typeof o.mediaType !== 'string' || !parseDigest(o.digest) || !Number.isSafeInteger(o.size) || o.size < 0) {
    throw new InvalidManifestError(where, `bad layer ${JSON.stringify(l)?.slice(0, 200)}`);
  }
  return { mediaType: o.mediaType, digest: o.digest, size: o.size };
}

/** Parses and checks a manifest's JSON text (every digest well-formed, sizes non-negative integers). */
export function parseManifest(text: string, where: string): Manifest {
  let j: Manifest;
  try {
    j = JSON.parse(text) as Manifest;
  } catch (e) {
    throw new InvalidManifestError(where, (e as Error).message);
  }
  if (!j || typeof j !== 'object' || !Array.isArray(j.layers)) throw new InvalidManifestError(where, 'no layers');
  return {
    schemaVersion: 2,
    mediaType: typeof j.mediaType === 'string' ? j.mediaType : MANIFEST_MEDIA_TYPE,
    config: checkLayer(j.config, where),
    layers: j.layers.map((l) => checkLayer(l, where)),
  };
}

/** The model layer (the GGUF weights). */
export function modelLayer(m: Manifest): Layer | undefined {
  return m.layers.find((l) => l.mediaType === LAYER.model);
}
