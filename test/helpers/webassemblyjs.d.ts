/** Minimal types for @webassemblyjs/wasm-parser (the package ships none); only what tests use. */
declare module '@webassemblyjs/wasm-parser' {
  export interface DecodeOptions {
    ignoreCodeSection?: boolean;
    ignoreDataSection?: boolean;
    ignoreCustomNameSection?: boolean;
  }
  /** The module AST: `{ type: 'Program', body: [{ type: 'Module', fields: [...] }] }`. */
  export function decode(buf: Uint8Array | ArrayBuffer, opts?: DecodeOptions): unknown;
}
