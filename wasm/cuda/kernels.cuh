// The kernels, as per-thread (`operator()(i)`) or per-lane (`operator()(item, lane, warp)`) bodies
// shared by the CUDA build and the host emulation (emu.h). Pointers are device pointers (host
// pointers into the emulated device memory under TSR_EMU). Shapes follow wasm/ABI.md per op.
#pragma once
#include "common.cuh"

#define GELU_COEF_A 0.044715f
#define SQRT_2_OVER_PI 0.79788456080286535587989211986876f

// ---- MATMUL: activations converted as ggml's CPU matmul does for the weight type ----
// Scratch layouts (device-internal, within the n_tok·n_in·4 bytes the recorder reserves):
// Q8_0 blocks (Q8_0/Q4_0 weights): i8 qs[n_tok·n_in], then f32 d[n_tok·n_in/32] (f16 values).
// Q8_K blocks (K-quants): i8 qs[n_tok·n_in], f32 d[n_tok·n_in/256], i32 bsums[n_tok·n_in/16].
// F16: u16 [n_tok·n_in]. F32: unused.
struct ActQ8_0 {  // one thread per 32-value block: ggml's x86 quantize_row_q8_0 (see wasm/src/ops/quant.rs)
  const float* x; int8_t* qs; float* d;
  HD void operator()(long b) const {
    const float* v = x + b * 32;
    float amax = 0.0f;
    for (int j = 0; j < 32; j++) { float a = fabsf(v[j]); amax = amax < a ? a : amax; }
    float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    for (int j = 0; j < 32; j++) qs[b * 32 + j] = (int8_t)(int)round_even(v[j] * id);
    d[b] = round_f16(amax / 127.0f);
  }
};
struct ActQ8_K {  // one thread per 256-value block: ggml's quantize_row_q8_K_ref
  const float* x; int8_t* qs; float* d; i32* bsums;
  HD void operator()(long b) const {
    const float* v = x + b * 256;
    float amax = 0.0f, max = 0.0f;
    for (int j = 0; j < 256; j++) if (fabsf(v[j]) > amax) { amax = fabsf(v[j]); max = v[j]; }
    if (amax == 0.0f) {
      for (int j = 0; j < 256; j++) qs[b * 256 + j] = 0;
      for (int g = 0; g < 16; g++) bsums[b * 16 + g] = 0;
      d[b] = 0.0f;
      return;
    }
    float iscale = -127.0f / max;
    for (int g = 0; g < 16; g++) {
      int s = 0;
      for (int j = 16 * g; j < 16 * g + 16; j++) {
        int q = (int)round_even(iscale * v[j]);
        q = q < 127 ? q : 127;
        qs[b * 256 + j] = (int8_t)q;
        s += q;
      }
      bsums[b * 16 + g] = s;
    }
    d[b] = 1.0f / iscale;
  }
};
struct ActF16 {
  const float* x; u16* h;
  HD void operator()(long i) const { h[i] = f32_to_f16(x[i]); }
};

// A warp per (row, tile of up to MM_TT tokens). Lanes take 32-value units u = lane, lane+32, …;
// a unit's contribution is exact in integers for the block types, then scaled in f32.
#define MM_TT 8
struct Matmul {
  u32 type; const u8* w; const float* x; float* out; u32 n_in, n_out, n_tok;
  const int8_t* qs; const float* d; const i32* bsums; const u16* xh;
  template <class W> HD void operator()(long item, int lane, const W& wp) const {
    u32 r = (u32)(item % n_out), t0 = (u32)(item / n_out) * MM_TT;
    u32 nt = n_tok - t0 < MM_TT ? n_tok - t0 : MM_TT;
    float acc[MM_TT];
    for (int k = 0; k < MM_TT; k++) acc[k] = 0.0f;
    const u8* row = w + (size_t)r * row_bytes_of(type, n_in);
    u32 nu = n_in / 32;
    for (u32 u = lane; u < nu; u += 32) {
      if (type == T_F32 || type == T_F16) {
        for (u32 k = 0; k < nt; k++) {
          const size_t xo = (size_t)(t0 + k) * n_in + u * 32;
          float s = 0.0f;
          for (int j = 0; j < 32; j++) {
            if (type == T_F32) s += deq(T_F32, row, u * 32 + j) * x[xo + j];
            else s += f16_to_f32(ld16(row + 2 * (u * 32 + j))) * f16_to_f32(xh[xo + j]);
          }
          acc[k] += s;
        }
      } else if (type == T_Q8_0 || type == T_Q4_0) {
        const u8* b = row + u * blk_bytes(type);
        float dw = f16_to_f32(ld16(b));
        int wq[32];
        for (int j = 0; j < 32; j++) wq[j] = type == T_Q8_0 ? (int)(int8_t)b[2 + j] : ((b[2 + (j & 15)] >> (j < 16 ? 0 : 4)) & 15) - 8;
        for (u32 k = 0; k < nt; k++) {
          const size_t xb = (size_t)(t0 + k) * nu + u;
          const int8_t* q = qs + xb * 32;
          int isum = 0;
          for (int j = 0; j < 32; j++) isum += wq[j] * q[j];
          acc[k] += (dw * d[xb]) * (float)isum;
        }
      } else if (type == T_Q4_K) {
        const u8* b = row + (u / 8) * 144;
        int s = u % 8, sc, m;
        scale_min_k4(s, b + 4, &sc, &m);
        float dw = f16_to_f32(ld16(b)), dmin = f16_to_f32(ld16(b + 2));
        int wq[32];
        for (int j = 0; j < 32; j++) wq[j] = q4k_level(b, 32 * s + j);
        for (u32 k = 0; k < nt; k++) {
          const size_t xu = (size_t)(t0 + k) * nu + u;  // unit index in the token's row
          const int8_t* q = qs + xu * 32;
          int dot = 0;
          for (int j = 0; j < 32; j++) dot += wq[j] * q[j];
          const i32* bs = bsums + xu * 2;
          float dx = d[xu / 8];
          acc[k] += (dw * dx) * (float)(sc * dot);
          acc[k] -= (dmin * dx) * (float)(m * (bs[0] + bs[1]));
        }
      } else if (type == T_Q6_K) {
        const u8* b = row + (u / 8) * 210;
        int s = u % 8;
        float dw = f16_to_f32(ld16(b + 208));
        int wq[32];
        for (int j = 0; j < 32; j++) wq[j] = q6k_level(b, 32 * s + j);
        int sc0 = (int8_t)b[192 + 2 * s], sc1 = (int8_t)b[192 + 2 * s + 1];
        for (u32 k = 0; k < nt; k++) {
          const size_t xu = (size_t)(t0 + k) * nu + u;
          const int8_t* q = qs + xu * 32;
          int d0 = 0, d1 = 0;
          for (int j = 0; j < 16; j++) d0 += wq[j] * q[j];
          for (int j = 16; j < 32; j++) d1 += wq[j] * q[j];
          const i32* bs = bsums + xu * 2;
          int isum = sc0 * d0 + sc1 * d1 - 32 * (sc0 * bs[0] + sc1 * bs[1]);
          acc[k] += (dw * d[xu / 8]) * (float)isum;
        }
      }
    }
    for (u32 k = 0; k < nt; k++) {  // nt is the same for the whole warp: uniform control flow around the reduction
      float s = wp.sum(acc[k]);
      if (lane == 0) out[(size_t)(t0 + k) * n_out + r] = s;
    }
  }
};

struct GetRows {
  u32 type; const u8* table; const i32* ids; float* out; u32 n_cols;
  HD void operator()(long i) const {
    long t = i / n_cols; u32 c = (u32)(i % n_cols);
    out[i] = deq(type, table + (size_t)ids[t] * row_bytes_of(type, n_cols), c);
  }
};

struct RmsNorm {  // a warp per row; f32 sum of squares
  const float* x; const float* w; float* out; u32 n; float eps;
  template <class W> HD void operator()(long r, int lane, const W& wp) const {
    const float* xr = x + (size_t)r * n;
    float s = 0.0f;
    for (u32 i = lane; i < n; i += 32) s += xr[i] * xr[i];
    s = wp.sum(s);
    float scale = 1.0f / sqrtf(s / (float)n + eps);
    for (u32 i = lane; i < n; i += 32) out[(size_t)r * n + i] = xr[i] * scale * (w ? w[i] : 1.0f);
  }
};
struct Norm {  // LayerNorm, a warp per row, mean and variance summed in f64 as ggml_norm
  const float* x; const float* w; const float* b; float* out; u32 n; float eps;
  template <class W> HD void operator()(long r, int lane, const W& wp) const {
    const float* xr = x + (size_t)r * n;
    double s = 0.0;
    for (u32 i = lane; i < n; i += 32) s += xr[i];
    float mean = (float)(wp.sumd(s) / n);
    double v = 0.0;
    for (u32 i = lane; i < n; i += 32) { float c = xr[i] - mean; v += (double)(c * c); }
    float var = (float)(wp.sumd(v) / n);
    float scale = 1.0f / sqrtf(var + eps);
    for (u32 i = lane; i < n; i += 32) {
      float y = (xr[i] - mean) * scale;
      if (w) y *= w[i];
      if (b) y += b[i];
      out[(size_t)r * n + i] = y;
    }
  }
};
struct Softmax {  // a warp per row
  const float* x; float* out; u32 n; float scale;
  template <class W> HD void operator()(long r, int lane, const W& wp) const {
    const float* xr = x + (size_t)r * n;
    float m = -INFINITY;
    for (u32 i = lane; i < n; i += 32) m = fmaxf(m, scale * xr[i]);
    m = wp.max(m);
    double s = 0.0;
    for (u32 i = lane; i < n; i += 32) s += (double)expf(scale * xr[i] - m);
    float inv = (float)(1.0 / wp.sumd(s));
    for (u32 i = lane; i < n; i += 32) out[(size_t)r * n + i] = expf(scale * xr[i] - m) * inv;
  }
};

HD float gelu_f32(float x) { return 0.5f * x * (1.0f + tanhf(SQRT_2_OVER_PI * x * (1.0f + GELU_COEF_A * x * x))); }
// GGML_GELU_FP16: 0 for x ≤ −10, x for x ≥ 10, else the table value f16(gelu(f16(x))).
HD float gelu_ggml(float x) { return x <= -10.0f ? 0.0f : x >= 10.0f ? x : round_f16(gelu_f32(round_f16(x))); }

enum { EW_SILU, EW_SWIGLU, EW_GELU, EW_GEGLU, EW_ADD, EW_MUL, EW_SCALE, EW_SOFTCAP };
struct Elementwise {
  u32 op; const float* a; const float* b; float* out; u32 nb; float s; u32 flags;
  HD void operator()(long i) const {
    float x = a[i];
    float y;
    switch (op) {
      case EW_SILU: y = x / (1.0f + expf(-x)); break;
      case EW_SWIGLU: y = x / (1.0f + expf(-x)) * b[i]; break;
      case EW_GELU: y = (flags & 1) ? gelu_ggml(x) : gelu_f32(x); break;
      case EW_GEGLU: y = ((flags & 1) ? gelu_ggml(x) : gelu_f32(x)) * b[i]; break;
      case EW_ADD: y = x + b[nb ? i % nb : i]; break;
      case EW_MUL: y = x * b[nb ? i % nb : i]; break;
      case EW_SCALE: y = s * x; break;
      default: y = tanhf(x * (1.0f / s)) * s; break;  // SOFTCAP
    }
    out[i] = y;
  }
};

struct Rope {  // a thread per (token, head, pair) rotating both values (in place safe), then one per copied dim ≥ n_rot
  const float* x; float* out; const i32* pos; u32 n_head, head_dim, n_rot, mode; float theta_scale, freq_scale; const float* ff;
  HD u32 per_head() const { return n_rot / 2 + (head_dim - n_rot); }
  HD void operator()(long i) const {
    u32 k = (u32)(i % per_head());
    long th = i / per_head();
    size_t base = (size_t)th * head_dim;
    long t = th / n_head;
    u32 half = n_rot / 2;
    if (k >= half) { u32 e = n_rot + (k - half); out[base + e] = x[base + e]; return; }
    u32 p = k, a = mode == 2 ? p : 2 * p, b = mode == 2 ? p + half : 2 * p + 1;
    float theta = (float)pos[t];
    for (u32 j = 0; j < p; j++) theta *= theta_scale;
    float th_ = freq_scale * (ff ? theta / ff[p] : theta);
    float c = cosf(th_), s = sinf(th_);
    float x0 = x[base + a], x1 = x[base + b];
    out[base + a] = x0 * c - x1 * s;
    out[base + b] = x0 * s + x1 * c;
  }
};

// ---- KV pages ----
HD u32 kv_row_bytes(u32 t, u32 n) { return t == T_F32 ? 4 * n : t == T_F16 ? 2 * n : t == T_Q8_0 ? n / 32 * 34 : n / 32 * 18; }

struct KvStore {  // a thread per value (F32/F16) or per 32-block (Q8_0/Q4_0), ggml's reference quantizers
  const float* src; u32 row_len; const i32* pos; const u32* pages; u32 page_size, kv_type; u8* base;
  HD void operator()(long i) const {
    u32 per = (kv_type == T_F32 || kv_type == T_F16) ? row_len : row_len / 32;
    long t = i / per; u32 k = (u32)(i % per);
    u32 p = (u32)pos[t];
    u8* row = base + pages[p / page_size] + (size_t)(p % page_size) * kv_row_bytes(kv_type, row_len);
    const float* x = src + (size_t)t * row_len;
    if (kv_type == T_F32) { ((float*)row)[k] = x[k]; return; }
    if (kv_type == T_F16) { u16 h = f32_to_f16(x[k]); row[2 * k] = (u8)h; row[2 * k + 1] = (u8)(h >> 8); return; }
    const float* v = x + 32 * k;
    if (kv_type == T_Q8_0) {  // quantize_row_q8_0_ref: d = amax/127, q = roundf(x/d)
      u8* b = row + 34 * k;
      float amax = 0.0f;
      for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(v[j]));
      float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
      u16 h = f32_to_f16(d); b[0] = (u8)h; b[1] = (u8)(h >> 8);
      for (int j = 0; j < 32; j++) b[2 + j] = (u8)(int8_t)(int)roundf(v[j] * id);
    } else {  // quantize_row_q4_0_ref: d = max/−8 (max: the value of largest magnitude)
      u8* b = row + 18 * k;
      float amax = 0.0f, max = 0.0f;
      for (int j = 0; j < 32; j++) if (amax < fabsf(v[j])) { amax = fabsf(v[j]); max = v[j]; }
      float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
      u16 h = f32_to_f16(d); b[0] = (u8)h; b[1] = (u8)(h >> 8);
      for (int j = 0; j < 16; j++) {
        float x0 = v[j] * id + 8.5f, x1 = v[16 + j] * id + 8.5f;
        int q0 = (int)(int8_t)(int)x0, q1 = (int)(int8_t)(int)x1;
        q0 = q0 < 15 ? q0 : 15; q1 = q1 < 15 ? q1 : 15;
        b[2 + j] = (u8)(q0 | (q1 << 4));
      }
    }
  }
};

struct AttnShape {
  const float* q; float* out; const i32* q_pos; u32 n_kv, n_head, n_head_kv, head_dim;
  const u32* k_pages; const u32* v_pages; u32 page_size, k_type, v_type, window, ggml; float scale, softcap;
  const u8* base; float* S;  // S: f32 [n_tok][n_head][n_kv] scores, then weights
  HD bool visible(long t, u32 j) const {
    i32 p = q_pos[t];
    if ((i32)j > p || j >= n_kv) return false;
    return window == 0 || (i32)j > p - (i32)window;
  }
  HD const u8* row(const u32* pages, u32 type, u32 j, u32 hk) const {
    u32 rl = n_head_kv * head_dim;
    return base + pages[j / page_size] + (size_t)(j % page_size) * kv_row_bytes(type, rl) + kv_row_bytes(type, hk * head_dim);
  }
};
struct AttnScores {  // a thread per (token, head, key)
  AttnShape a;
  HD void operator()(long i) const {
    u32 j = (u32)(i % a.n_kv); long th = i / a.n_kv; u32 h = (u32)(th % a.n_head); long t = th / a.n_head;
    if (!a.visible(t, j)) { a.S[i] = -INFINITY; return; }
    u32 hk = h / (a.n_head / a.n_head_kv);
    const u8* k = a.row(a.k_pages, a.k_type, j, hk);
    const float* q = a.q + (size_t)th * a.head_dim;
    float dot = 0.0f;
    for (u32 e = 0; e < a.head_dim; e++) dot += (a.ggml ? round_f16(q[e]) : q[e]) * deq(a.k_type, k, e);
    float s = a.scale * dot;
    if (a.softcap > 0.0f) s = a.softcap * tanhf(s / a.softcap);
    a.S[i] = s;
  }
};
struct AttnSoftmax {  // a warp per (token, head): weights in place, f16-rounded in ggml mode
  AttnShape a;
  template <class W> HD void operator()(long th, int lane, const W& wp) const {
    float* s = a.S + (size_t)th * a.n_kv;
    float m = -INFINITY;
    for (u32 j = lane; j < a.n_kv; j += 32) m = fmaxf(m, s[j]);
    m = wp.max(m);
    double sum = 0.0;
    for (u32 j = lane; j < a.n_kv; j += 32) if (s[j] != -INFINITY) { float e = expf(s[j] - m); s[j] = e; sum += e; } else s[j] = 0.0f;
    sum = wp.sumd(sum);
    float inv = sum > 0.0 ? (float)(1.0 / sum) : 0.0f;
    for (u32 j = lane; j < a.n_kv; j += 32) { float p = s[j] * inv; s[j] = a.ggml ? round_f16(p) : p; }
  }
};
struct AttnOut {  // a thread per (token, head, dim)
  AttnShape a;
  HD void operator()(long i) const {
    u32 e = (u32)(i % a.head_dim); long th = i / a.head_dim; u32 h = (u32)(th % a.n_head); long t = th / a.n_head;
    u32 hk = h / (a.n_head / a.n_head_kv);
    const float* p = a.S + (size_t)th * a.n_kv;
    i32 qp = a.q_pos[t];
    u32 j1 = (u32)(qp + 1) < a.n_kv ? (u32)(qp + 1) : a.n_kv;
    u32 j0 = a.window && qp - (i32)a.window + 1 > 0 ? (u32)(qp - (i32)a.window + 1) : 0;
    float acc = 0.0f;
    for (u32 j = j0; j < j1; j++) acc += p[j] * deq(a.v_type, a.row(a.v_pages, a.v_type, j, hk), e);
    a.out[i] = acc;
  }
};
