//! The AVX2 kernels against the scalar twins (themselves checked against f64 references in
//! ../tests.rs and ../tests_k.rs): the integer dots are exact and the f32 updates are the
//! twins' in the same order, so every output must have the twin's bits. Run with
//! `RUSTFLAGS='-C target-cpu=x86-64-v3'` (or a CPU with AVX2, FMA and F16C) to cover them.

use super::super::tests::{mm, Rng};
use super::super::{compute, convert};
use crate::graph::{split_range, Barrier, Ctx};
use crate::ops::quant::{self, Q4_0, Q4_K, Q6_K, Q8_0};

/// Random weight bytes of type `t` with finite f16 scales (some subnormal) where the type has
/// them; every other byte random (Q8_0's −128 and Q6_K's −128 scales included).
fn weights(t: u32, n_out: usize, n_in: usize, rng: &mut Rng) -> Vec<u8> {
    let mut bytes: Vec<u8> = (0..n_out * quant::row_bytes(t, n_in).unwrap()).map(|_| rng.next() as u8).collect();
    let (bsize, scales): (usize, &[usize]) = match t {
        Q4_0 => (18, &[0]),
        Q8_0 => (34, &[0]),
        Q4_K => (144, &[0, 2]),
        Q6_K => (210, &[208]),
        _ => unreachable!(),
    };
    for blk in bytes.chunks_mut(bsize) {
        for &o in scales {
            let h = if rng.next() % 16 == 0 { (rng.next() % 0x400) as u16 } else { 0x0400 + (rng.next() % 0x2800) as u16 };
            let h = h | if rng.next() % 4 == 0 { 0x8000 } else { 0 };
            blk[o..o + 2].copy_from_slice(&h.to_le_bytes());
        }
    }
    bytes
}

/// Whether the AVX2 kernels are built and this CPU runs them (else the tests say so and pass).
fn avx2() -> bool {
    let on = is_x86_feature_detected!("avx2") && cfg!(target_feature = "avx2");
    if !on {
        eprintln!("skipped: not built with AVX2 (RUSTFLAGS='-C target-cpu=x86-64-v3')");
    }
    on
}

/// Activations for `n_tok` tokens: uniform, every 13th value ×8 (block maxima of mixed scale).
fn activations(n_tok: usize, n_in: usize, rng: &mut Rng) -> Vec<f32> {
    (0..n_tok * n_in).map(|i| (rng.unit() * if i % 13 == 0 { 8.0 } else { 1.0 }) as f32).collect()
}

/// The scalar twin over `(t_want, w_want)` and the AVX2 kernels over `(t_got, w_got)` (the same
/// matrix, maybe in another layout) on the same activations; phase 2 as 2 threads, whose uneven
/// row ranges exercise the partial tiles. Asserts every output has the same bits.
fn assert_same_bits(want_w: (u32, &[u8]), got_w: (u32, &[u8]), x: &[f32], n_in: usize, n_out: usize, n_tok: usize) {
    let mut scratch = vec![0u8; n_tok * n_in * 2];
    let (mut want, mut got) = (vec![f32::NAN; n_tok * n_out], vec![f32::NAN; n_tok * n_out]);
    for (out, (ty, w), scalar) in [(&mut want, want_w, true), (&mut got, got_w, false)] {
        let m = mm(ty, w, x, out, &mut scratch, n_in, n_out, n_tok);
        let sync = Barrier::new();
        unsafe { convert(&m, &Ctx { ith: 0, nth: 1, scalar, sync: &sync }) };
        for ith in 0..2 {
            unsafe { compute(&m, split_range(n_out, ith, 2), scalar) };
        }
    }
    for i in 0..n_tok * n_out {
        assert_eq!(got[i].to_bits(), want[i].to_bits(), "types {}/{} n_in {n_in} n_out {n_out} n_tok {n_tok} at {i}: {} vs {}", want_w.0, got_w.0, got[i], want[i]);
    }
}

#[test]
fn avx2_kernels_match_scalar_twins_bitwise() {
    if !avx2() {
        return;
    }
    let mut rng = Rng(0x51CE_D00D_1234_5678);
    for t in [Q4_0, Q8_0, Q4_K, Q6_K] {
        let k = t == Q4_K || t == Q6_K;
        let ins: &[usize] = if k { &[256, 512, 2048 + 256] } else { &[32, 96, 2048 + 32 * 3, 8192 + 32] };
        for &n_in in ins {
            for &(n_out, n_tok) in &[(1usize, 1usize), (5, 2), (8, 1), (13, 8), (24, 9), (17, 19), (20, 3), (19, 4), (11, 7), (9, 12)] {
                let w = weights(t, n_out, n_in, &mut rng);
                let x = activations(n_tok, n_in, &mut rng);
                assert_same_bits((t, &w), (t, &w), &x, n_in, n_out, n_tok);
            }
        }
    }
}

/// The K-quant tiles over the 4-row interleave (`type | X4`, repacked in place by ops/repack.rs
/// as the native backend does at load) give exactly the bits of the scalar twin on the original
/// row-major weights: decode (1 token), batched decode (2..7), prefill (8+) and mixed.
#[test]
fn avx2_k_tiles_over_the_4_row_interleave_match_row_major_bitwise() {
    if !avx2() {
        return;
    }
    let mut rng = Rng(0x4A11_7E57_0000_0004);
    for t in [Q4_K, Q6_K] {
        for &n_in in &[256usize, 2048 + 256] {
            for &(n_out, n_tok) in &[(4usize, 1usize), (12, 1), (20, 3), (8, 4), (36, 7), (16, 9), (28, 19)] {
                let w = weights(t, n_out, n_in, &mut rng);
                let mut wx = w.clone();
                let mut tmp = vec![0u8; w.len() / n_out * 4];
                unsafe { crate::ops::repack::k_x4(t, wx.as_mut_ptr(), tmp.as_mut_ptr(), n_in, n_out) };
                let x = activations(n_tok, n_in, &mut rng);
                assert_same_bits((t, &w), (quant::X4 | t, &wx), &x, n_in, n_out, n_tok);
            }
        }
    }
}

/// The Q4_0 tiles over Q4_0X4 (repacked by ops/repack.rs as the native backend does at load) give
/// exactly the bits of the scalar twin on the original Q4_0 rows: decode, batched decode, prefill
/// (panel: n_in ≤ 8192; row by row beyond) and mixed, over row ranges split for 2 threads.
#[test]
fn avx2_q4_0_tiles_over_q4_0x4_match_q4_0_bitwise() {
    if !avx2() {
        return;
    }
    let mut rng = Rng(0x0A4_0000_0000_0404);
    for &n_in in &[32usize, 96, 2048 + 32 * 3, 8192 + 32] {
        for &(n_out, n_tok) in &[(4usize, 1usize), (12, 1), (20, 3), (8, 4), (36, 7), (16, 9), (28, 19), (44, 2)] {
            let w = weights(Q4_0, n_out, n_in, &mut rng);
            let mut wx = vec![0u8; n_in / 32 * quant::Q4_0X4_BYTES * n_out];
            let mut tmp = vec![0u8; n_in / 32 * 80];
            unsafe { crate::ops::repack::q4_0_x4(w.as_ptr(), wx.as_mut_ptr(), tmp.as_mut_ptr(), n_in, n_out) };
            let x = activations(n_tok, n_in, &mut rng);
            assert_same_bits((Q4_0, &w), (quant::Q4_0X4, &wx), &x, n_in, n_out, n_tok);
        }
    }
}
