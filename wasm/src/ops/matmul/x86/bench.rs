//! Decode-GEMV throughput against a plain streaming read of the same bytes (ignored tests:
//! `RUSTFLAGS='-C target-cpu=x86-64-v3' cargo test --release bench_ -- --ignored --nocapture`).
//! A 1B model's decode reads ~560 MiB of weights per token; a kernel that keeps up with the
//! streaming read is memory-bound, one that doesn't is where decode time goes.

use super::super::tests::{mm, Rng};
use super::super::{compute, convert};
use crate::graph::{Barrier, Ctx};
use crate::ops::quant::{self, Q4_0, Q4_K, Q6_K, Q8_0};
use core::arch::x86_64::*;
use std::time::Instant;

fn stream_read(b: &[u8]) -> u64 {
    unsafe {
        let mut acc = [_mm256_setzero_si256(); 4];
        let p = b.as_ptr();
        let mut i = 0;
        while i + 128 <= b.len() {
            for k in 0..4 {
                acc[k] = _mm256_add_epi64(acc[k], _mm256_sad_epu8(_mm256_loadu_si256(p.add(i + 32 * k) as *const __m256i), _mm256_setzero_si256()));
            }
            i += 128;
        }
        let s = _mm256_add_epi64(_mm256_add_epi64(acc[0], acc[1]), _mm256_add_epi64(acc[2], acc[3]));
        let mut l = [0u64; 4];
        _mm256_storeu_si256(l.as_mut_ptr() as *mut __m256i, s);
        l.iter().sum()
    }
}

#[test]
#[ignore]
fn bench_decode_gemv() {
    if !cfg!(target_feature = "avx2") {
        return;
    }
    // BENCH_KIB=256: an L2-sized matrix, the kernels' compute throughput alone.
    let kib: usize = std::env::var("BENCH_KIB").ok().and_then(|s| s.parse().ok()).unwrap_or(256 << 10);
    let reps = if kib < 4096 { 200 } else { 5 };
    let mut rng = Rng(7);
    for (t, name) in [(Q4_0, "Q4_0"), (Q8_0, "Q8_0"), (Q4_K, "Q4_K"), (Q6_K, "Q6_K")] {
        for n_in in [2048usize, 8192] {
            let rb = quant::row_bytes(t, n_in).unwrap();
            let n_out = ((kib << 10) / rb / 64 * 64).max(64);
            let w: Vec<u8> = (0..n_out * rb).map(|i| if i % 2 == 1 { 0x20 } else { rng.next() as u8 }).collect();
            let x: Vec<f32> = (0..n_in).map(|_| rng.unit() as f32).collect();
            let mut scratch = vec![0u8; n_in * 2];
            let mut out = vec![0f32; n_out];
            let m = mm(t, &w, &x, &mut out, &mut scratch, n_in, n_out, 1);
            let sync = Barrier::new();
            unsafe { convert(&m, &Ctx { ith: 0, nth: 1, scalar: false, sync: &sync }) };
            let (mut best_k, mut best_s, mut best_0) = (f64::MAX, f64::MAX, f64::MAX);
            let mut sink = 0u64;
            for _ in 0..reps {
                let t0 = Instant::now();
                unsafe { compute(&m, 0..n_out, false) };
                best_k = best_k.min(t0.elapsed().as_secs_f64());
                let t0 = Instant::now();
                unsafe {
                    match t {
                        Q4_0 => super::q::decode::<super::q::Q4_0, 0, false>(&m, 0..n_out, 0),
                        Q8_0 => super::q::decode::<super::q::Q8_0, 0, false>(&m, 0..n_out, 0),
                        Q4_K => super::k::decode::<super::k::Q4K, 0>(&m, 0..n_out, 0),
                        _ => super::k::decode::<super::k::Q6K, 0>(&m, 0..n_out, 0),
                    }
                };
                best_0 = best_0.min(t0.elapsed().as_secs_f64());
                let t0 = Instant::now();
                sink += stream_read(&w);
                best_s = best_s.min(t0.elapsed().as_secs_f64());
            }
            let gb = w.len() as f64 / 1e9;
            eprintln!("{name} n_in {n_in}: kernel {:.2} GB/s (no prefetch {:.2}), stream {:.2} GB/s ({:.0}%) [{sink}]", gb / best_k, gb / best_0, gb / best_s, 100.0 * best_s / best_k);
        }
    }
}
