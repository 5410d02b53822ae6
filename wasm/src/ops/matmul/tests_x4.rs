//! Q4_0X4 (Q4_0 repacked by 4 rows, ops/repack.rs): the repack (with its input at the tail of
//! the output buffer, as the WASM backend loads it) and the Q4_0X4 scalar twin give the Q4_0
//! scalar twin's bits for every output, and GET_ROWS the same rows. (The SIMD tiles are checked
//! against the scalar twins in test/wasm.)

use super::tests::{mm, Rng};
use super::*;
use crate::graph::{split_range, Barrier, Ctx};
use crate::ops::quant::{Q4_0, Q4_0X4};
use crate::ops::repack;

/// Random Q4_0 `[n_out][n_in]` (some subnormal and some negative scales).
fn q4_0(n_out: usize, n_in: usize, rng: &mut Rng) -> Vec<u8> {
    let mut w = vec![0u8; n_out * n_in / 32 * 18];
    for b in w.chunks_mut(18) {
        let d: u16 = if rng.next() % 16 == 0 { (rng.next() % 0x400) as u16 } else { 0x0400 + (rng.next() % 0x2800) as u16 };
        let d = d | if rng.next() % 4 == 0 { 0x8000 } else { 0 };
        b[..2].copy_from_slice(&d.to_le_bytes());
        b[2..].iter_mut().for_each(|q| *q = rng.next() as u8);
    }
    w
}

/// `w` repacked as the backend does it: written at the tail of the Q4_0X4-sized buffer, then REPACK in place.
fn repacked(w: &[u8], n_out: usize, n_in: usize) -> Vec<u8> {
    let size = n_out * n_in / 32 * 20;
    let mut buf = vec![0u8; size];
    buf[size - w.len()..].copy_from_slice(w);
    let mut scratch = vec![0u8; 4 * n_in / 32 * 20];
    let p = buf.as_mut_ptr();
    unsafe { repack::q4_0_x4(p.add(size - w.len()), p, scratch.as_mut_ptr(), n_in, n_out) };
    buf
}

fn run(t: u32, w: &[u8], x: &[f32], n_in: usize, n_out: usize, n_tok: usize) -> Vec<f32> {
    let mut out = vec![f32::NAN; n_tok * n_out];
    let mut scratch = vec![0u8; n_tok * n_in * 2];
    let m = mm(t, w, x, &mut out, &mut scratch, n_in, n_out, n_tok);
    let sync = Barrier::new();
    unsafe { convert(&m, &Ctx { ith: 0, nth: 1, scalar: true, sync: &sync }) };
    // Phase 2 as 2 threads on row ranges aligned to 4, as the core splits them.
    for ith in 0..2 {
        let r = split_range(n_out / 4, ith, 2);
        unsafe { compute(&m, 4 * r.start..4 * r.end, true) };
    }
    out
}

#[test]
fn q4_0x4_gives_q4_0_bits() {
    let mut rng = Rng(0x51_7CC1_B727_220A);
    for &n_in in &[32usize, 96, 2048 + 32 * 3] {
        for &(n_out, n_tok) in &[(4usize, 1usize), (12, 3), (20, 5)] {
            let w = q4_0(n_out, n_in, &mut rng);
            let w4 = repacked(&w, n_out, n_in);
            let x: Vec<f32> = (0..n_tok * n_in).map(|i| (rng.unit() * if i % 13 == 0 { 8.0 } else { 1.0 }) as f32).collect();
            let want = run(Q4_0, &w, &x, n_in, n_out, n_tok);
            let got = run(Q4_0X4, &w4, &x, n_in, n_out, n_tok);
            for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                assert_eq!(g.to_bits(), e.to_bits(), "n_in {n_in} n_out {n_out} output {i}: {g} vs {e}");
            }
            // GET_ROWS: every row, Q4_0X4 against Q4_0.
            let ids: Vec<i32> = (0..n_out as i32).rev().collect();
            let (mut a, mut b) = (vec![0.0f32; n_out * n_in], vec![1.0f32; n_out * n_in]);
            unsafe {
                crate::ops::get_rows::gather(Q4_0, w.as_ptr(), ids.as_ptr(), a.as_mut_ptr(), n_in, 0..n_out).unwrap();
                crate::ops::get_rows::gather(Q4_0X4, w4.as_ptr(), ids.as_ptr(), b.as_mut_ptr(), n_in, 0..n_out).unwrap();
            }
            assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()), "GET_ROWS n_in {n_in} n_out {n_out}");
        }
    }
}

#[test]
fn k_x4_gives_k_bits() {
    use crate::ops::quant::{IQ4_XS, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, X4};
    let mut rng = Rng(0xC0FF_EE12_3456_789A);
    let mut krng = super::tests_k::Rng(0x1234_5678_9ABC_DEF1);
    for t in [Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS] {
        for &(n_in, n_out, n_tok) in &[(256usize, 4usize, 1usize), (512, 12, 3), (768, 8, 6)] {
            let (w, _, _) = super::tests_k::weights(t, n_out, n_in, &mut krng);
            let mut w4 = w.clone();
            let mut scratch = vec![0u8; 4 * w.len() / n_out];
            unsafe { repack::k_x4(t, w4.as_mut_ptr(), scratch.as_mut_ptr(), n_in, n_out) };
            if n_in > 256 {
                assert_ne!(w4, w, "type {t}: the layout changed");
            }
            let x: Vec<f32> = (0..n_tok * n_in).map(|_| rng.unit() as f32).collect();
            let want = run(t, &w, &x, n_in, n_out, n_tok);
            let got = run(t | X4, &w4, &x, n_in, n_out, n_tok);
            for (i, (g, e)) in got.iter().zip(&want).enumerate() {
                assert_eq!(g.to_bits(), e.to_bits(), "type {t} n_in {n_in} output {i}: {g} vs {e}");
            }
            let ids: Vec<i32> = (0..n_out as i32).rev().collect();
            let (mut a, mut b) = (vec![0.0f32; n_out * n_in], vec![1.0f32; n_out * n_in]);
            unsafe {
                crate::ops::get_rows::gather(t, w.as_ptr(), ids.as_ptr(), a.as_mut_ptr(), n_in, 0..n_out).unwrap();
                crate::ops::get_rows::gather(t | X4, w4.as_ptr(), ids.as_ptr(), b.as_mut_ptr(), n_in, 0..n_out).unwrap();
            }
            assert!(a.iter().zip(&b).all(|(p, q)| p.to_bits() == q.to_bits()), "GET_ROWS type {t}");
        }
    }
}
