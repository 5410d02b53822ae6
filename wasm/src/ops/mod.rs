//! One file per kernel family. Every op entry point has the signature
//! `pub unsafe fn run(a: &Args, cx: &Ctx)` (files with several ops: `run_<op>`), decodes its
//! words per ABI.md, takes its share with `cx.split(..)` and picks the SIMD kernel or its
//! scalar twin on `cx.scalar`. Dispatch by op code is in `graph.rs`.
//! Mark entry points `#[inline(never)]`: test/wasm/module.test.ts finds each op's kernel by
//! its name in the module's name section and checks that it contains v128 code.

pub mod act;
pub mod attention;
pub mod elementwise;
pub mod get_rows;
pub mod image;
pub mod kv;
pub mod matmul;
pub mod norm;
pub mod quant;
pub mod quant32;
pub mod quant_k;
pub mod repack;
pub mod rope;
pub mod rope_multi;
pub mod softmax;
