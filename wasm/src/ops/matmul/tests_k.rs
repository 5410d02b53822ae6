//! Native tests of the K-quant scalar twins (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS × Q8_K; the SIMD tiles are checked
//! against them bit for bit in test/wasm/matmul-k.test.ts). The reference decodes the weight
//! bytes here from ggml-common.h's layouts (not with `quant_k`'s helpers) and quantizes the
//! activations like ggml's `quantize_row_q8_K_ref`, then sums in f64.

use super::*;
use crate::graph::{split_range, Barrier, Ctx};
use crate::ops::quant::{IQ4_XS, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K};

pub(super) struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u32 {
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
pub(super) fn weights(t: u32, n_out: usize, n_in: usize, rng: &mut Rng) -> (Vec<u8>, Vec<f64>, Vec<f64>) {
    let bs = match t { Q2_K => 84, Q3_K => 110, Q4_K => 144, Q5_K => 176, IQ4_XS => 136, _ => 210 };
    let nb = n_out * n_in / 256;
    let mut bytes: Vec<u8> = (0..nb * bs).map(|_| rng.next() as u8).collect();
    let (mut val, mut mag) = (vec![0.0; n_out * n_in], vec![0.0; n_out * n_in]);
    for b in 0..nb {
        let blk = &mut bytes[b * bs..(b + 1) * bs];
        let mut h = || 0x1400 + (rng.next() % 0x1C00) as u16;
        if t == Q2_K {
            blk[80..82].copy_from_slice(&h().to_le_bytes());
            blk[82..84].copy_from_slice(&h().to_le_bytes());
        } else if t == Q3_K {
            blk[108..110].copy_from_slice(&h().to_le_bytes());
        } else if t == IQ4_XS {
            blk[0..2].copy_from_slice(&h().to_le_bytes());
        } else if t == Q6_K {
            blk[208..210].copy_from_slice(&h().to_le_bytes());
        } else {
            blk[0..2].copy_from_slice(&h().to_le_bytes());
            blk[2..4].copy_from_slice(&h().to_le_bytes());
        }
        let u16_at = |i: usize| u16::from_le_bytes([blk[i], blk[i + 1]]);
        for e in 0..256 {
            let o = b * 256 + e;
            if t == Q2_K {
                // scales[16] | qs[64] | d | dmin: level at 2g of qs[32·half + l]; scale j = e/16 in the
                // low nibble of scales[j], its min in the high nibble.
                let (half, g, l, j) = (e / 128, (e / 32) % 4, e % 32, e / 16);
                let q = ((blk[16 + 32 * half + l] >> (2 * g)) & 3) as f64;
                let a = f16_ref(u16_at(80)) * (blk[j] & 15) as f64 * q;
                let c = f16_ref(u16_at(82)) * (blk[j] >> 4) as f64;
                val[o] = a - c;
                mag[o] = a.abs() + c.abs();
            } else if t == IQ4_XS {
                // d | scales_h u16 | scales_l[4] | qs[128]: sub-block s = e/32, 6-bit scale from the
                // nibble s%2 of scales_l[s/2] and bits 2s..2s+1 of scales_h; nibble j%16 of qs[16s + j%16]
                // (low for j < 16) indexes ggml-common.h's kvalues_iq4nl.
                const KV: [i32; 16] = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];
                let (sb, j) = (e / 32, e % 32);
                let ls = ((blk[4 + sb / 2] >> (4 * (sb % 2))) & 15) as i32 + 16 * ((u16_at(2) >> (2 * sb)) & 3) as i32;
                let byte = blk[8 + 16 * sb + j % 16];
                let nib = if j < 16 { byte & 15 } else { byte >> 4 };
                val[o] = f16_ref(u16_at(0)) * (ls - 32) as f64 * KV[nib as usize] as f64;
                mag[o] = val[o].abs();
            } else if t == Q3_K {
                // hmask[32] | qs[64] | scales[12] | d: 2 low bits of byte qs[32·half + l] at 2g,
                // the high bit at bit e/32 of hmask[l]; scale j = e/16: 4 low bits from
                // scales[j % 8] (high nibble for j ≥ 8), 2 high bits from scales[8 + j % 4] at 2·(j/4).
                let (half, g, l, j) = (e / 128, (e / 32) % 4, e % 32, e / 16);
                let lo = ((blk[32 + 32 * half + l] >> (2 * g)) & 3) as i32;
                let hi = ((blk[l] >> (e / 32)) & 1) as i32;
                let s_lo = if j < 8 { blk[96 + j] & 15 } else { blk[96 + j - 8] >> 4 } as i32;
                let s_hi = ((blk[104 + j % 4] >> (2 * (j / 4))) & 3) as i32;
                val[o] = f16_ref(u16_at(108)) * (s_lo + 16 * s_hi - 32) as f64 * (lo + 4 * hi - 4) as f64;
                mag[o] = val[o].abs();
            } else if t == Q6_K {
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
    for t in [Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS] {
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
