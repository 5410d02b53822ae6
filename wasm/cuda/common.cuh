// Shared by the CUDA build (nvcc) and the host emulation (g++ -DTSR_EMU): portability macros,
// f16 conversions in integer arithmetic (bit-identical on both) and the ggml block readers.
#pragma once
#include <stdint.h>
#include <math.h>

#ifdef TSR_EMU
#define HD
#define TSR_RESTRICT __restrict__
#else
#define HD __host__ __device__ __forceinline__
#define TSR_RESTRICT __restrict__
#endif

typedef uint8_t u8;
typedef uint16_t u16;
typedef uint32_t u32;
typedef int32_t i32;

// ggml type ids (wasm/ABI.md).
enum { T_F32 = 0, T_F16 = 1, T_Q4_0 = 2, T_Q8_0 = 8, T_Q4_K = 12, T_Q6_K = 14 };

HD float bits_f32(u32 b) { union { u32 u; float f; } v; v.u = b; return v.f; }
HD u32 f32_bits(float f) { union { u32 u; float f; } v; v.f = f; return v.u; }

// IEEE half → float (exact, subnormals included).
HD float f16_to_f32(u16 h) {
  u32 s = (u32)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e == 0) {
    float v = (float)m * 5.9604644775390625e-8f; // 2^-24
    return s ? -v : v;
  }
  if (e == 31) return bits_f32(s | 0x7f800000u | (m << 13));
  return bits_f32(s | ((e + 112) << 23) | (m << 13));
}

// float → IEEE half, round to nearest even (as F16C's _cvtss_sh and ggml's conversions).
HD u16 f32_to_f16(float f) {
  u32 x = f32_bits(f);
  u32 s = (x >> 16) & 0x8000;
  u32 ax = x & 0x7fffffffu;
  if (ax >= 0x7f800000u) return (u16)(s | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0));
  if (ax >= 0x477ff000u) return (u16)(s | 0x7c00); // rounds to ≥ 65520: inf
  if (ax < 0x38800000u) { // below 2^-14: subnormal half
    if (ax < 0x33000000u) return (u16)s; // < 2^-25: rounds to 0 (2^-25 exactly: tie to even 0)
    u32 e = ax >> 23, m = (ax & 0x7fffff) | 0x800000;
    u32 shift = 126 - e; // value = m·2^(e−150); half units 2^-24 → m >> (126 − e)
    u32 q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1))) q++;
    return (u16)(s | q);
  }
  u32 r = ax + 0x0fff + ((ax >> 13) & 1); // round mantissa to 10 bits, ties to even
  return (u16)(s | ((r - 0x38000000u) >> 13));
}
HD float round_f16(float x) { return f16_to_f32(f32_to_f16(x)); }

HD u16 ld16(const u8* p) { return (u16)(p[0] | (p[1] << 8)); }

// Round half to even (|x| < 2^22), as the core's round_even and wasm's f32x4.nearest.
HD float round_even(float x) { return rintf(x); }

// Bytes per block and values per block.
HD u32 blk_bytes(u32 t) { return t == T_F32 ? 4 : t == T_F16 ? 2 : t == T_Q4_0 ? 18 : t == T_Q8_0 ? 34 : t == T_Q4_K ? 144 : t == T_Q6_K ? 210 : 0; }
HD u32 blk_vals(u32 t) { return (t == T_F32 || t == T_F16) ? 1 : (t == T_Q4_K || t == T_Q6_K) ? 256 : 32; }
HD u32 row_bytes_of(u32 t, u32 n) { return n / blk_vals(t) * blk_bytes(t); }

// Q4_K/Q5_K 6-bit scale and min of sub-block j (ggml's get_scale_min_k4).
HD void scale_min_k4(int j, const u8* q, int* sc, int* m) {
  if (j < 4) { *sc = q[j] & 63; *m = q[j + 4] & 63; }
  else { *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4); *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4); }
}
// Q4_K level (0..15) of element e of the super-block at b.
HD int q4k_level(const u8* b, int e) { int p = e / 64, hi = (e % 64) / 32, l = e % 32; return (b[16 + 32 * p + l] >> (4 * hi)) & 15; }
// Q6_K level (0..63) of element e.
HD int q6k_level(const u8* b, int e) {
  int h = e / 128, g = (e % 128) / 32, l = e % 32;
  int lo = (b[64 * h + l + 32 * (g & 1)] >> (4 * (g >> 1))) & 15;
  int hi = (b[128 + 32 * h + l] >> (2 * g)) & 3;
  return lo | (hi << 4);
}

// Element c of a row of type t (GET_ROWS, KV reads), in f32 as the core computes it.
HD float deq(u32 t, const u8* row, u32 c) {
  switch (t) {
    case T_F32: return bits_f32((u32)row[4 * c] | ((u32)row[4 * c + 1] << 8) | ((u32)row[4 * c + 2] << 16) | ((u32)row[4 * c + 3] << 24));
    case T_F16: return f16_to_f32(ld16(row + 2 * c));
    case T_Q8_0: { const u8* b = row + (c / 32) * 34; return f16_to_f32(ld16(b)) * (float)(int8_t)b[2 + c % 32]; }
    case T_Q4_0: { const u8* b = row + (c / 32) * 18; u32 j = c % 32; int q = (b[2 + (j & 15)] >> (j < 16 ? 0 : 4)) & 15; return f16_to_f32(ld16(b)) * (float)(q - 8); }
    case T_Q4_K: {
      const u8* b = row + (c / 256) * 144; int e = c % 256; int sc, m; scale_min_k4(e / 32, b + 4, &sc, &m);
      float d = f16_to_f32(ld16(b)), dmin = f16_to_f32(ld16(b + 2));
      return d * (float)sc * (float)q4k_level(b, e) - dmin * (float)m;
    }
    case T_Q6_K: {
      const u8* b = row + (c / 256) * 210; int e = c % 256;
      return f16_to_f32(ld16(b + 208)) * (float)(int8_t)b[192 + e / 16] * (float)(q6k_level(b, e) - 32);
    }
  }
  return 0.0f;
}
