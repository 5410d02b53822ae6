/**
 * Just enough of a WebAssembly code-section decoder for tests: which instructions each function
 * body contains (SIMD 0xFD, relaxed SIMD, atomics) and whom it calls, plus the function names
 * from the `name` section. (@webassemblyjs/wasm-parser reads the module structure but not
 * SIMD/bulk-memory code, so bodies are decoded here.)
 */

export interface FunctionInfo {
  index: number;
  name: string;
  /** Demangled path of a Rust v0 symbol (`tessera_core::ops::norm::run`), else `name`. */
  path: string;
  simdOps: number;
  relaxedOps: number;
  atomicOps: number;
  calls: Set<number>;
}

class Reader {
  constructor(
    readonly b: Uint8Array,
    public p = 0,
  ) {}
  byte(): number {
    return this.b[this.p++];
  }
  u32(): number {
    let r = 0;
    let s = 0;
    for (;;) {
      const x = this.b[this.p++];
      r += (x & 0x7f) * 2 ** s;
      if (x < 0x80) return r;
      s += 7;
    }
  }
  /** Skips a signed LEB of any width. */
  sleb(): void {
    while (this.b[this.p++] & 0x80);
  }
  memarg(): void {
    this.u32();
    this.u32();
  }
  name(): string {
    const n = this.u32();
    const s = new TextDecoder().decode(this.b.subarray(this.p, this.p + n));
    this.p += n;
    return s;
  }
}

const VALTYPES = new Set([0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f, 0x40]);

/** SIMD sub-opcodes with a memarg (loads/stores), a lane byte, or 16 immediate bytes. */
function skipSimdImmediates(r: Reader, op: number): void {
  if (op <= 11 || op === 92 || op === 93) r.memarg();
  else if (op === 12 || op === 13) r.p += 16;
  else if (op >= 21 && op <= 34) r.p += 1;
  else if (op >= 84 && op <= 91) {
    r.memarg();
    r.p += 1;
  }
}

function decodeBody(r: Reader, end: number, f: FunctionInfo): void {
  for (let groups = r.u32(); groups > 0; groups--) {
    r.u32();
    r.byte();
  }
  while (r.p < end) {
    const op = r.byte();
    if (op === 0x02 || op === 0x03 || op === 0x04) {
      if (VALTYPES.has(r.b[r.p])) r.p++;
      else r.sleb();
    } else if (op === 0x0c || op === 0x0d) r.u32();
    else if (op === 0x0e) {
      for (let n = r.u32() + 1; n > 0; n--) r.u32();
    } else if (op === 0x10) f.calls.add(r.u32());
    else if (op === 0x11) {
      r.u32();
      r.u32();
    } else if (op === 0x1c) {
      for (let n = r.u32(); n > 0; n--) r.byte();
    } else if (op >= 0x20 && op <= 0x26) r.u32();
    else if (op >= 0x28 && op <= 0x3e) r.memarg();
    else if (op === 0x3f || op === 0x40) r.u32();
    else if (op === 0x41 || op === 0x42) r.sleb();
    else if (op === 0x43) r.p += 4;
    else if (op === 0x44) r.p += 8;
    else if (op === 0xd0) r.byte();
    else if (op === 0xd2) r.u32();
    else if (op === 0xfc) {
      const sub = r.u32();
      if (sub === 8) {
        r.u32();
        r.byte();
      } else if (sub === 9 || sub === 13 || (sub >= 15 && sub <= 17)) r.u32();
      else if (sub === 10) r.p += 2;
      else if (sub === 11) r.p += 1;
      else if (sub === 12 || sub === 14) {
        r.u32();
        r.u32();
      }
    } else if (op === 0xfd) {
      const sub = r.u32();
      f.simdOps++;
      if (sub >= 0x100 && sub <= 0x113) f.relaxedOps++;
      skipSimdImmediates(r, sub);
    } else if (op === 0xfe) {
      const sub = r.u32();
      f.atomicOps++;
      if (sub === 3) r.byte();
      else r.memarg();
    }
    // every other opcode has no immediates
  }
  if (r.p !== end) throw new Error(`function ${f.index}: decoder overran its body`);
}

/** Demangles the path of a Rust v0 symbol (`_RNvNtNtCs…_12tessera_core3ops4norm3run`). */
export function v0Path(sym: string): string {
  if (!sym.startsWith('_R')) return sym;
  const idents: string[] = [];
  let i = 2;
  while (i < sym.length) {
    const c = sym[i];
    if (c === 'C' && sym[i + 1] === 's') {
      i = sym.indexOf('_', i) + 1;
    } else if (c >= '0' && c <= '9') {
      let j = i;
      while (sym[j] >= '0' && sym[j] <= '9') j++;
      const n = Number(sym.slice(i, j));
      idents.push(sym.slice(j, j + n));
      i = j + n;
    } else i++;
  }
  return idents.join('::');
}

/** Every defined function of the module with what its body contains. */
export function decodeFunctions(bytes: Uint8Array): FunctionInfo[] {
  const r = new Reader(bytes, 8);
  let imported = 0;
  const names = new Map<number, string>();
  const funcs: FunctionInfo[] = [];
  let codeStart = -1;
  while (r.p < bytes.length) {
    const id = r.byte();
    const size = r.u32();
    const end = r.p + size;
    if (id === 2) {
      for (let n = r.u32(); n > 0; n--) {
        r.name();
        r.name();
        const kind = r.byte();
        if (kind === 0) {
          imported++;
          r.u32();
        } else if (kind === 1 || kind === 2) {
          if (kind === 1) r.byte();
          const flags = r.byte();
          r.u32();
          if (flags & 1) r.u32();
        } else if (kind === 3) r.p += 2;
        else {
          r.byte();
          r.u32();
        }
      }
    } else if (id === 10) codeStart = r.p;
    else if (id === 0 && r.name() === 'name') {
      while (r.p < end) {
        const sub = r.byte();
        const subEnd = r.u32() + r.p;
        if (sub === 1) for (let n = r.u32(); n > 0; n--) names.set(r.u32(), r.name());
        r.p = subEnd;
      }
    }
    r.p = end;
  }
  if (codeStart < 0) return funcs;
  const c = new Reader(bytes, codeStart);
  const count = c.u32();
  for (let k = 0; k < count; k++) {
    const size = c.u32();
    const end = c.p + size;
    const index = imported + k;
    const name = names.get(index) ?? `func${index}`;
    const f: FunctionInfo = { index, name, path: v0Path(name), simdOps: 0, relaxedOps: 0, atomicOps: 0, calls: new Set() };
    decodeBody(c, end, f);
    funcs.push(f);
  }
  return funcs;
}

/** `roots` and every function they call, transitively. */
export function withCallees(funcs: FunctionInfo[], roots: FunctionInfo[]): FunctionInfo[] {
  const byIndex = new Map(funcs.map((f) => [f.index, f]));
  const seen = new Map<number, FunctionInfo>();
  const stack = [...roots];
  while (stack.length) {
    const f = stack.pop()!;
    if (seen.has(f.index)) continue;
    seen.set(f.index, f);
    for (const c of f.calls) {
      const g = byIndex.get(c);
      if (g) stack.push(g);
    }
  }
  return [...seen.values()];
}
