//! The scalar twin shared by Q4_1, Q5_0, Q5_1 and IQ4_NL (ops/quant32.rs): per block,
//! `isum = Σ_j code_j·q_j` exactly in integers, then in f32 `sum += (d_w·d_x)·isum` and, for
//! the types with a min, `sum += m_w·s_x` — the order the SIMD tiles use per lane.

use super::Mm;
use crate::f16::f16_to_f32;
use crate::ops::quant::{read_u16, QK};
use crate::ops::quant32::{codes, has_min};

/// `out[t][r]` for weight type `ty` (`bytes` per block).
#[inline(always)]
pub unsafe fn dot_scalar(m: &Mm, r: usize, t: usize, ty: u32, bytes: usize) -> f32 {
    let w = m.row(r);
    let act = m.q8();
    let mut c = [0i32; QK];
    let mut sum = 0.0f32;
    for b in 0..m.n_in / QK {
        let blk = w.add(b * bytes);
        codes(ty, blk, &mut c);
        let mut isum = 0i32;
        for (j, &v) in c.iter().enumerate() {
            isum += v * act.q(t, b, j) as i32;
        }
        sum += (f16_to_f32(read_u16(blk)) * act.d(t, b)) * isum as f32;
        if has_min(ty) {
            sum += f16_to_f32(read_u16(blk.add(2))) * act.s(t, b);
        }
    }
    sum
}
