//! Native tests of the Q4_1 / Q5_0 / Q5_1 / IQ4_NL scalar twins against f64 references written
//! here from the block layouts (not from ops/quant32.rs): weights decoded by hand, activations
//! quantized independently as ggml's x86 Q8_0 / Q8_1 (`s = f16(d·Σq)` with the f32 `d`),
//! `out = Σ_b [Σ_j (c_j·d_w)·(q_j·d_x) + m_w·s_x]` summed in f64. Tolerance 1e-5·Σ|terms|
//! (the twins' f32 sum over n_in/32 blocks). Phase 1 (the Q8_1 `s` slot) is checked exactly.

use super::tests::{f16_ref, mm, q8_block_ref, Rng};
use super::*;
use crate::f16::f32_to_f16;
use crate::graph::{split_range, Barrier, Ctx};
use crate::ops::quant32::{IQ4_NL, Q4_1, Q5_0, Q5_1};

const LEVELS: [f64; 16] = [-127., -104., -83., -65., -49., -35., -22., -10., 1., 13., 25., 38., 53., 69., 89., 113.];

/// Random blocks of type `t`: bytes, per-element `c·d` and per-block `m` (0 without a min).
fn weights(t: u32, n_out: usize, n_in: usize, rng: &mut Rng) -> (Vec<u8>, Vec<f64>, Vec<f64>) {
    let bs = match t { Q4_1 => 20, Q5_0 => 22, Q5_1 => 24, _ => 18 };
    let nb = n_out * n_in / 32;
    let mut bytes = vec![0u8; nb * bs];
    let (mut vals, mut mins) = (vec![0.0; n_out * n_in], vec![0.0; nb]);
    for b in 0..nb {
        let blk = &mut bytes[b * bs..(b + 1) * bs];
        for v in blk.iter_mut() {
            *v = rng.next() as u8;
        }
        let d: u16 = if rng.next() % 16 == 0 { (rng.next() % 0x400) as u16 } else { 0x0400 + (rng.next() % 0x2800) as u16 };
        blk[..2].copy_from_slice(&d.to_le_bytes());
        let has_min = t == Q4_1 || t == Q5_1;
        if has_min {
            let m = (0x0400 + (rng.next() % 0x2C00)) as u16 | if rng.next() & 1 == 1 { 0x8000 } else { 0 };
            blk[2..4].copy_from_slice(&m.to_le_bytes());
            mins[b] = f16_ref(m);
        }
        let (qs, qh) = match t { Q4_1 => (4, None), Q5_0 => (6, Some(2)), Q5_1 => (8, Some(4)), _ => (2, None) };
        for j in 0..32 {
            let byte = blk[qs + j % 16];
            let mut c = if j < 16 { byte & 15 } else { byte >> 4 } as i32;
            if let Some(h) = qh {
                c += 16 * ((blk[h + j / 8] >> (j % 8)) & 1) as i32;
            }
            let v = match t { Q5_0 => (c - 16) as f64, IQ4_NL => LEVELS[c as usize], _ => c as f64 };
            vals[b * 32 + j] = v * f16_ref(d);
        }
    }
    (bytes, vals, mins)
}

#[test]
fn twins_32_match_f64_reference() {
    let mut rng = Rng(0x51_7CC1_B727_220A);
    for t in [Q4_1, Q5_0, Q5_1, IQ4_NL] {
        for &n_in in &[32usize, 96, 2048 + 32 * 3] {
            for &(n_out, n_tok) in &[(1usize, 1usize), (3, 2), (17, 5)] {
                let (w, wv, wm) = weights(t, n_out, n_in, &mut rng);
                let x: Vec<f32> = (0..n_tok * n_in).map(|i| (rng.unit() * if i % 13 == 0 { 8.0 } else { 1.0 }) as f32).collect();
                let mut out = vec![f32::NAN; n_tok * n_out];
                let mut scratch = vec![0u8; n_tok * n_in * 2];
                let m = mm(t, &w, &x, &mut out, &mut scratch, n_in, n_out, n_tok);
                let sync = Barrier::new();
                for ith in 0..3 {
                    unsafe { convert(&m, &Ctx { ith, nth: 3, scalar: true, sync: &sync }) };
                }
                for ith in 0..2 {
                    unsafe { compute(&m, split_range(n_out, ith, 2), true) };
                }
                let nb = n_in / 32;
                for tk in 0..n_tok {
                    for r in 0..n_out {
                        let (mut want, mut mag) = (0.0f64, 0.0f64);
                        for b in 0..nb {
                            let xs = &x[tk * n_in + b * 32..][..32];
                            let (dh, q) = q8_block_ref(xs);
                            let dx = f16_ref(dh);
                            for j in 0..32 {
                                let p = wv[r * n_in + b * 32 + j] * q[j] as f64 * dx;
                                want += p;
                                mag += p.abs();
                            }
                            let amax = xs.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                            let sum: i32 = q.iter().map(|&v| v as i32).sum();
                            let s = f16_ref(f32_to_f16(amax / 127.0 * sum as f32));
                            let p = wm[r * nb + b] * s;
                            want += p;
                            mag += p.abs();
                        }
                        let got = out[tk * n_out + r] as f64;
                        let tol = 1e-5 * mag + 1e-30;
                        assert!((got - want).abs() <= tol, "type {t} n_in {n_in} r {r} t {tk}: {got} vs {want} (tol {tol})");
                    }
                }
            }
        }
    }
}

#[test]
fn phase1_q8_1_sums() {
    let mut rng = Rng(7);
    let (n_in, n_tok) = (96usize, 3usize);
    let mut x: Vec<f32> = (0..n_tok * n_in).map(|_| rng.unit() as f32 * 3.0).collect();
    x[40..72].iter_mut().for_each(|v| *v = 0.0);
    let mut out = [0.0f32; 1];
    let w = vec![0u8; 24 * 3];
    for scalar in [true, false] {
        let mut scratch = vec![0xAAu8; n_tok * n_in / 32 * 40];
        let m = mm(Q5_1, &w, &x, &mut out, &mut scratch, n_in, 1, n_tok);
        let sync = Barrier::new();
        for ith in 0..2 {
            unsafe { convert(&m, &Ctx { ith, nth: 2, scalar, sync: &sync }) };
        }
        for tk in 0..n_tok {
            for b in 0..n_in / 32 {
                let xs = &x[tk * n_in + b * 32..][..32];
                let (_, q) = q8_block_ref(xs);
                let amax = xs.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                let sum: i32 = q.iter().map(|&v| v as i32).sum();
                let blk = &scratch[(tk * n_in / 32 + b) * 40..][..40];
                let got = f32::from_le_bytes(blk[36..40].try_into().unwrap()) as f64;
                assert_eq!(got, f16_ref(f32_to_f16(amax / 127.0 * sum as f32)), "t {tk} b {b}");
            }
        }
    }
}
