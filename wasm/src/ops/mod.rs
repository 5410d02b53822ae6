//! One file per kernel family. Every op entry point has the signature
//! `pub unsafe fn run(a: &Args, cx: &Ctx)` (files with several ops: `run_<op>`), decodes its
//! words per ABI.md, takes its share with `cx.split(..)` and picks the SIMD kernel or its
//! scalar twin on `cx.scalar`. Dispatch by op code is in `graph.rs`.

pub mod act;
pub mod elementwise;
pub mod norm;
pub mod softmax;
