//! Native tests of the scalar twins (the SIMD tiles are checked against them in
//! test/wasm/matmul.test.ts). References are independent: weights and activations are
//! decoded to f64 here from their bytes, dot products are summed in f64.

use super::*;
use crate::graph::{split_range, Barrier, Ctx};
use crate::ops::quant::{BF16, F16, F32, Q4_0, Q8_0};

pub(super) struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 16) as u32
    }
    /// Uniform in [-1, 1).
    pub fn unit(&mut self) -> f64 {
        self.next() as f64 / 2f64.powi(31) - 1.0
    }
}

/// f16 bits → value, from the fields (finite inputs).
pub(super) fn f16_ref(h: u16) -> f64 {
    let s = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let e = ((h >> 10) & 0x1F) as i32;
    let m = (h & 0x3FF) as f64;
    if e == 0 {
        s * m * 2f64.powi(-24)
    } else {
        s * (1.0 + m / 1024.0) * 2f64.powi(e - 15)
    }
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

/// Random weights `[n_out][n_in]` of type `t` as bytes, and their exact values.
fn weights(t: u32, n_out: usize, n_in: usize, rng: &mut Rng) -> (Vec<u8>, Vec<f64>) {
    let mut bytes = vec![0u8; n_out * quant::row_bytes(t, n_in).unwrap()];
    let mut vals = vec![0.0; n_out * n_in];
    // A finite f16 scale in about [2^-14, 2^-4], some subnormal.
    let scale = |rng: &mut Rng| -> u16 { if rng.next() % 16 == 0 { (rng.next() % 0x400) as u16 } else { 0x0400 + (rng.next() % 0x2800) as u16 } };
    match t {
        F32 => {
            for (i, v) in vals.iter_mut().enumerate() {
                let f = rng.unit() as f32;
                bytes[4 * i..4 * i + 4].copy_from_slice(&f.to_le_bytes());
                *v = f as f64;
            }
        }
        F16 => {
            for (i, v) in vals.iter_mut().enumerate() {
                let h = ((rng.next() % 0x7800) as u16) | if rng.next() & 1 == 1 { 0x8000 } else { 0 };
                bytes[2 * i..2 * i + 2].copy_from_slice(&h.to_le_bytes());
                *v = f16_ref(h);
            }
        }
        BF16 => {
            for (i, v) in vals.iter_mut().enumerate() {
                let f = rng.unit() as f32 * 3.0;
                let h = (f.to_bits() >> 16) as u16;
                bytes[2 * i..2 * i + 2].copy_from_slice(&h.to_le_bytes());
                *v = f32::from_bits((h as u32) << 16) as f64;
            }
        }
        Q8_0 | Q4_0 => {
            let bsize = if t == Q8_0 { 34 } else { 18 };
            for blk in 0..n_out * n_in / 32 {
                let b = &mut bytes[blk * bsize..(blk + 1) * bsize];
                let d = scale(rng);
                b[..2].copy_from_slice(&d.to_le_bytes());
                for q in &mut b[2..] {
                    *q = rng.next() as u8; // Q8_0: the full i8 range, -128 included
                }
                for j in 0..32 {
                    let q = if t == Q8_0 { b[2 + j] as i8 as f64 } else if j < 16 { (b[2 + j] & 15) as f64 - 8.0 } else { (b[2 + j - 16] >> 4) as f64 - 8.0 };
                    vals[blk * 32 + j] = q * f16_ref(d);
                }
            }
        }
        _ => unreachable!(),
    }
    (bytes, vals)
}

/// Independent Q8 quantization of one block (x86 ggml): returns (d bits, q).
pub(super) fn q8_block_ref(x: &[f32]) -> (u16, [i8; 32]) {
    let amax = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    let d = amax / 127.0;
    let id = if amax == 0.0 { 0.0 } else { 127.0 / amax };
    let mut q = [0i8; 32];
    for j in 0..32 {
        let v = (x[j] * id) as f64;
        let f = v.floor();
        let r = if v - f > 0.5 || (v - f == 0.5 && f % 2.0 != 0.0) { f + 1.0 } else { f };
        q[j] = r as i8;
    }
    (crate::f16::f32_to_f16(d), q)
}

/// Activation values as the kernel sees them after phase 1, read back from `scratch`.
fn acts_from_scratch(t: u32, scratch: &[u8], x: &[f32], n_tok: usize, n_in: usize) -> Vec<f64> {
    let mut v = vec![0.0; n_tok * n_in];
    match t {
        F32 => v.iter_mut().zip(x).for_each(|(o, &i)| *o = i as f64),
        F16 => (0..n_tok * n_in).for_each(|i| v[i] = f16_ref(u16_at(scratch, 2 * i))),
        BF16 => (0..n_tok * n_in).for_each(|i| v[i] = f32::from_bits((u16_at(scratch, 2 * i) as u32) << 16) as f64),
        _ => {
            // Blocks of 40 bytes: 32 values (natively always in element order), f32 d, i32 −8·Σq.
            for tk in 0..n_tok {
                for i in 0..n_in {
                    let blk = &scratch[(tk * n_in / 32 + i / 32) * 40..][..40];
                    let d = f32::from_le_bytes(blk[32..36].try_into().unwrap()) as f64;
                    v[tk * n_in + i] = blk[i % 32] as i8 as f64 * d;
                }
            }
        }
    }
    v
}

pub(super) fn mm(t: u32, w: &[u8], x: &[f32], out: &mut [f32], scratch: &mut [u8], n_in: usize, n_out: usize, n_tok: usize) -> Mm {
    Mm {
        wtype: t,
        w: w.as_ptr(),
        row_bytes: quant::row_bytes(t, n_in).unwrap(),
        x: x.as_ptr(),
        out: out.as_mut_ptr(),
        n_in,
        n_out,
        n_tok,
        scratch: scratch.as_mut_ptr(),
    }
}

#[test]
fn scalar_twins_match_f64_reference() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for t in [F32, F16, BF16, Q8_0, Q4_0] {
        for &n_in in &[32usize, 64, 96, 2048 + 32 * 3, 4096] {
            for &(n_out, n_tok) in &[(1usize, 1usize), (3, 2), (17, 5)] {
                let (w, wv) = weights(t, n_out, n_in, &mut rng);
                let x: Vec<f32> = (0..n_tok * n_in).map(|i| (rng.unit() * if i % 13 == 0 { 8.0 } else { 1.0 }) as f32).collect();
                let mut out = vec![f32::NAN; n_tok * n_out];
                let mut scratch = vec![0u8; n_tok * n_in * 2];
                let m = mm(t, &w, &x, &mut out, &mut scratch, n_in, n_out, n_tok);
                // Phase 1 as 3 threads (no barrier inside convert), phase 2 as 2 threads.
                let sync = Barrier::new();
                for ith in 0..3 {
                    unsafe { convert(&m, &Ctx { ith, nth: 3, scalar: true, sync: &sync }) };
                }
                for ith in 0..2 {
                    unsafe { compute(&m, split_range(n_out, ith, 2), true) };
                }
                let a = acts_from_scratch(t, &scratch, &x, n_tok, n_in);
                for tk in 0..n_tok {
                    for r in 0..n_out {
                        let (mut want, mut mag) = (0.0f64, 0.0f64);
                        for i in 0..n_in {
                            let p = wv[r * n_in + i] * a[tk * n_in + i];
                            want += p;
                            mag += p.abs();
                        }
                        let got = out[tk * n_out + r] as f64;
                        // f32 summation of n_in (float types) or n_in/32 (Q types) terms.
                        let tol = 1e-5 * mag + 1e-30;
                        assert!((got - want).abs() <= tol, "type {t} n_in {n_in} r {r} t {tk}: {got} vs {want} (tol {tol})");
                    }
                }
            }
        }
    }
}

#[test]
fn phase1_quantizes_like_ggml() {
    let mut rng = Rng(42);
    let (n_in, n_tok) = (96usize, 3usize);
    let mut x: Vec<f32> = (0..n_tok * n_in).map(|_| rng.unit() as f32 * 3.0).collect();
    x[40..72].iter_mut().for_each(|v| *v = 0.0); // an all-zero block
    x[5] = 127.0 / 254.0 * 2.5; // a value on a rounding tie within its block is harmless
    let mut scratch = vec![0xAAu8; n_tok * n_in / 32 * 40];
    let mut out = [0.0f32; 1];
    let w = vec![0u8; 34 * 3];
    for t in [Q8_0, Q4_0] {
        let m = mm(t, &w, &x, &mut out, &mut scratch, n_in, 1, n_tok);
        let sync = Barrier::new();
        for ith in 0..2 {
            unsafe { convert(&m, &Ctx { ith, nth: 2, scalar: false, sync: &sync }) };
        }
        for tk in 0..n_tok {
            for b in 0..n_in / 32 {
                let (d, q) = q8_block_ref(&x[tk * n_in + b * 32..tk * n_in + b * 32 + 32]);
                let blk = &scratch[(tk * n_in / 32 + b) * 40..][..40];
                assert_eq!(f32::from_le_bytes(blk[32..36].try_into().unwrap()), f16_ref(d) as f32, "t {tk} b {b}");
                let got: Vec<i8> = blk[..32].iter().map(|&v| v as i8).collect();
                assert_eq!(&got[..], &q[..], "t {tk} b {b}");
                let sum: i32 = q.iter().map(|&v| v as i32).sum();
                assert_eq!(i32::from_le_bytes(blk[36..40].try_into().unwrap()), -8 * sum, "t {tk} b {b}");
            }
        }
    }
}
