/** Finds models by name in a directory of GGUF files, and keeps loaded engines (one per model). */
import { readdir, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, isAbsolute, join } from 'node:path';
import { createEngine, type Engine } from '../engine.ts';
import { TesseraError } from '../errors.ts';

export class ModelNotFoundError extends TesseraError {
  constructor(name: string, dir: string) {
    super('model_not_found', `model '${name}' not found in ${dir}`);
  }
}

export interface ModelEntry {
  name: string;
  path: string;
  size: number;
  modifiedAt: Date;
}

export function defaultModelsDir(): string {
  return process.env.TESSERA_MODELS ?? join(homedir(), '.tessera', 'models');
}

export class ModelRegistry {
  private readonly loaded = new Map<string, Promise<Engine>>();

  constructor(
    readonly dir: string,
    private readonly threads?: number,
  ) {}

  async list(): Promise<ModelEntry[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return [];
    }
    const out: ModelEntry[] = [];
    for (const f of names.filter((n) => n.endsWith('.gguf')).sort()) {
      const path = join(this.dir, f);
      const s = await stat(path);
      out.push({ name: toName(f), path, size: s.size, modifiedAt: s.mtime });
    }
    return out;
  }

  /** `name` is `file` or `file:latest` for `<dir>/file.gguf`, or an absolute path to a GGUF file. */
  async resolve(name: string): Promise<string> {
    if (isAbsolute(name) && name.endsWith('.gguf')) return name;
    const bare = name.replace(/:latest$/, '');
    const path = join(this.dir, `${bare}.gguf`);
    try {
      await stat(path);
      return path;
    } catch {
      throw new ModelNotFoundError(name, this.dir);
    }
  }

  /** The engine for a model, loading it on first use. A failed load is forgotten so a retry can succeed. */
  async engine(name: string): Promise<Engine> {
    const path = await this.resolve(name);
    let p = this.loaded.get(path);
    if (!p) {
      p = createEngine({ model: path, threads: this.threads });
      this.loaded.set(path, p);
      p.catch(() => this.loaded.delete(path));
    }
    return p;
  }

  async loadedModels(): Promise<{ name: string; engine: Engine }[]> {
    const out: { name: string; engine: Engine }[] = [];
    for (const [path, p] of this.loaded) {
      try {
        out.push({ name: toName(basename(path)), engine: await p });
      } catch {
        /* failed loads are dropped */
      }
    }
    return out;
  }

  async close(): Promise<void> {
    for (const { engine } of await this.loadedModels()) await engine.close();
    this.loaded.clear();
  }
}

function toName(file: string): string {
  return `${file.replace(/\.gguf$/, '')}:latest`;
}
