//! Native tests of the K-quant scalar twins (Q4_K, Q5_K, Q6_K × Q8_K; the SIMD tiles are checked
//! against them bit for bit in test/wasm/matmul-k.test.ts). The reference decodes the weight
//! bytes here from ggml-common.h's layouts (not with `quant_k`'s helpers) and quantizes the
//! activations like ggml's `quantize_row_q8_K_ref`, then sums in f64.

use super::*;
use crate::graph::{split_range, Barrier, Ctx};
use crate::ops::quant::{Q4_K, Q5_K, Q6_K};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 16) as u32
    }
}

fn f16_ref(h: u16) -> f64 {
    let s = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let e = ((h >> 10) & 0x1F) as i32;
    let m = (h & 0x3FF) as f64;
    if e == 0 { s * m * 2f64.powi(-24) } else { s * (1.0 + m / 1024.0) * 2f64.powi(e - 15) }
}

/// Random K weights `[n_out][n_in]` (every byte random but the f16 scales) and, per element, its
/// exact value and |d·sc·q| + |dmin·m| (the magnitude the f32 error scales with).
fn weights(t: u32, n_out: usize, n_in: usize, rng: &mut Rng) -> (Vec<u8>, Vec<f64>, Vec<f64>) {
    let bs = match t { Q4_K => 144, Q5_K => 176, _ => 210 };
    let nb = n_out * n_in / 256;
    let mut bytes: Vec<u8> = (0..nb * bs).map(|_| rng.next() as u8).collect();
    let (mut val, mut mag) = (vec![0.0; n_out * n_in], vec![0.0; n_out * n_in]);
    for b in 0..nb {
        let blk = &mut bytes[b * bs..(b + 1) * bs];
        let mut h = || 0x1400 + (rng.next() % 0x1C00) as u16;
        if t == Q6_K {
            blk[208..210].copy_from_slice(&h().to_le_bytes());
        } else {
            blk[0..2].copy_from_slice(&h().to_le_bytes());
            blk[2..4].copy_from_slice(&h().to_le_bytes());
        }
        let u16_at = |i: usize| u16::from_le_bytes([blk[i], blk[i + 1]]);
        for e in 0..256 {
            let o = b * 256 + e;
            if t == Q6_K {
                let (half, g, l) = (e / 128, (e / 32) % 4, e % 32);
                let ql = blk[64 * half + l + if g % 2 == 1 { 32 } else { 0 }];
                let lo = if g >= 2 { ql >> 4 } else { ql & 15 } as i32;
                let hi = ((blk[128 + 32 * half + l] >> (2 * g)) & 3) as i32;
                val[o] = f16_ref(u16_at(208)) * (blk[192 + e / 16] as i8) as f64 * (lo + 16 * hi - 32) as f64;
                mag[o] = val[o].abs();
            } else {
                let (pair, high, l) = (e / 64, (e / 32) % 2, e % 32);
                let qs = if t == Q5_K { 48 } else { 16 };
                let byte = blk[qs + 32 * pair + l];
                let mut q = if high == 1 { byte >> 4 } else { byte & 15 } as i32;
                if t == Q5_K && (blk[16 + l] >> (2 * pair + high)) & 1 == 1 {
                    q += 16;
                }
                let j = e / 32;
                let (sc, m) = if j < 4 {
                    (blk[4 + j] & 63, blk[8 + j] & 63)
                } else {
                    ((blk[12 + j - 4] & 15) + 16 * (blk[4 + j - 4] >> 6), (blk[12 + j - 4] >> 4) + 16 * (blk[4 + j] >> 6))
                };
                let a = f16_ref(u16_at(0)) * sc as f64 * q as f64;
                let c = f16_ref(u16_at(2)) * m as f64;
                val[o] = a - c;
                mag[o] = a.abs() + c.abs();
            }
        }
    }
    (bytes, val, mag)
}

/// ggml's quantize_row_q8_K_ref on one block of 256, as exact values.
fn q8k_ref(x: &[f32]) -> Vec<f64> {
    let (mut amax, mut max) = (0.0f32, 0.0f32);
    for &v in x {
        if v.abs() > amax {
            amax = v.abs();
            max = v;
        }
    }
    if amax == 0.0 {
        return vec![0.0; 256];
    }
    let iscale = -127.0f32 / max;
    let d = (1.0f32 / iscale) as f64;
    x.iter()
        .map(|&v| {
            let p = (iscale * v) as f64;
            let f = p.floor();
            let r = if p - f > 0.5 || (p - f == 0.5 && f % 2.0 != 0.0) { f + 1.0 } else { f };
            r.min(127.0) * d
        })
        .collect()
}

#[test]
fn k_scalar_twins_match_f64_reference() {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    for t in [Q4_K, Q5_K, Q6_K] {
        for &n_in in &[256usize, 512, 2048 + 256] {
            for &(n_out, n_tok) in &[(1usize, 1usize), (3, 2), (9, 5)] {
                let (w, wv, wm) = weights(t, n_out, n_in, &mut rng);
                let x: Vec<f32> = (0..n_tok * n_in).map(|i| ((rng.next() as f64 / 2f64.powi(31) - 1.0) * if i % 13 == 0 { 8.0 } else { 1.0 }) as f32).collect();
                let mut out = vec![f32::NAN; n_tok * n_out];
                let mut scratch = vec![0u8; n_tok * n_in * 2];
                let m = Mm {
                    wtype: t,
                    w: w.as_ptr(),
                    row_bytes: quant::row_bytes(t, n_in).unwrap(),
                    x: x.as_ptr(),
                    out: out.as_mut_ptr(),
                    n_in,
                    n_out,
                    n_tok,
                    scratch: scratch.as_mut_ptr(),
                };
                // Phase 1 as 3 threads, phase 2 as 2 threads.
                let sync = Barrier::new();
                for ith in 0..3 {
                    unsafe { convert(&m, &Ctx { ith, nth: 3, scalar: true, sync: &sync }) };
                }
                for ith in 0..2 {
                    unsafe { compute(&m, split_range(n_out, ith, 2), true) };
                }
                let a: Vec<f64> = x.chunks(256).flat_map(q8k_ref).collect();
                for tk in 0..n_tok {
                    for r in 0..n_out {
                        let (mut want, mut mag) = (0.0f64, 0.0f64);
                        for i in 0..n_in {
                            want += wv[r * n_in + i] * a[tk * n_in + i];
                            mag += wm[r * n_in + i] * a[tk * n_in + i].abs();
                        }
                        let got = out[tk * n_out + r] as f64;
                        // 2 f32 multiply-adds per super-block of exact integer sums.
                        let tol = 1e-5 * mag + 1e-30;
                        assert!((got - want).abs() <= tol, "type {t} n_in {n_in} r {r} t {tk}: {got} vs {want} (tol {tol})");
                    }
                }
            }
        }
    }
}
