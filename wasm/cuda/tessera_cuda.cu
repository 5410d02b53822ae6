// libtessera-cuda: the Tessera command-list interpreter (wasm/ABI.md "Command lists") over CUDA
// kernels, with a C ABI for FFI (src/backend/cuda/ffi.ts). Built twice by wasm/build-cuda.sh:
// - nvcc: libtessera-cuda.so, cudart linked statically (needs only the NVIDIA driver at run time);
// - g++ -DTSR_EMU: libtessera-cuda-emu.so, the same interpreter and kernel bodies on the host
//   (launches become loops, warps fibers: emu.h), "device memory" a second host buffer, so the
//   host↔device synchronisation is exercised too. Tests run it where no GPU is present.
//
// Memory model (see wasm/cuda/README.md): pointer words are offsets into an arena. The host mirror
// (a reserved, zero-filled mapping the TypeScript side views) and the device arena share offsets.
// Weights are uploaded once (tsr_cuda_upload). Ranges the host views are registered
// (tsr_cuda_host_range): before a run those no op has written yet are uploaded (token ids,
// positions, page tables); after it the bytes ops wrote in any of them are downloaded (logits).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <vector>
#include "common.cuh"
#include "kernels.cuh"
#ifdef TSR_EMU
#include "emu.h"
#else
#include <cuda_runtime.h>
#include "warp.cuh"
#endif

#define TSR_CUDA_ABI_VERSION 1
#define OP_COPY 64  // src page, dst page, bytes: device-side copy (copyPageBytes)

static char g_err[1024];
static void set_err(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_err, sizeof g_err, fmt, ap);
  va_end(ap);
}

// ---- device layer ----
#ifdef TSR_EMU
typedef void* Stream;
static bool dev_init(int, Stream*) { return true; }
static void* dev_alloc(size_t n) { void* p = calloc(1, n ? n : 1); if (!p) set_err("emulated device: out of memory (%zu bytes)", n); return p; }
static void dev_free(void* p) { free(p); }
static bool dev_h2d(void* d, const void* h, size_t n, Stream) { memcpy(d, h, n); return true; }
static bool dev_d2h(void* h, const void* d, size_t n, Stream) { memcpy(h, d, n); return true; }
static bool dev_d2d(void* d, const void* s, size_t n, Stream) { memmove(d, s, n); return true; }
static bool dev_zero(void* d, size_t n, Stream) { memset(d, 0, n); return true; }
static bool dev_sync(Stream) { return true; }
static void dev_destroy_stream(Stream) {}
#define LAUNCH_THREADS(k, n) launch_threads(k, (long)(n))
#define LAUNCH_WARPS(k, n) launch_warps(k, (long)(n))
#else
typedef cudaStream_t Stream;
static bool ok(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return true;
  set_err("%s: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
  return false;
}
static bool dev_init(int device, Stream* s) {
  int n = 0;
  if (!ok(cudaGetDeviceCount(&n), "cudaGetDeviceCount")) return false;
  if (device >= n) { set_err("CUDA device %d requested, %d present", device, n); return false; }
  return ok(cudaSetDevice(device), "cudaSetDevice") && ok(cudaStreamCreateWithFlags(s, cudaStreamNonBlocking), "cudaStreamCreate");
}
static void* dev_alloc(size_t n) { void* p = nullptr; if (!ok(cudaMalloc(&p, n ? n : 1), "cudaMalloc")) return nullptr; return p; }
static void dev_free(void* p) { cudaFree(p); }
static bool dev_h2d(void* d, const void* h, size_t n, Stream s) { return ok(cudaMemcpyAsync(d, h, n, cudaMemcpyHostToDevice, s), "cudaMemcpy H2D"); }
static bool dev_d2h(void* h, const void* d, size_t n, Stream s) { return ok(cudaMemcpyAsync(h, d, n, cudaMemcpyDeviceToHost, s), "cudaMemcpy D2H"); }
static bool dev_d2d(void* d, const void* src, size_t n, Stream s) { return ok(cudaMemcpyAsync(d, src, n, cudaMemcpyDeviceToDevice, s), "cudaMemcpy D2D"); }
static bool dev_zero(void* d, size_t n, Stream s) { return ok(cudaMemsetAsync(d, 0, n, s), "cudaMemset"); }
static bool dev_sync(Stream s) { return ok(cudaStreamSynchronize(s), "kernel execution"); }
static void dev_destroy_stream(Stream s) { cudaStreamDestroy(s); }

template <class K> __global__ void g_threads(K k, long n) {
  for (long i = (long)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (long)gridDim.x * blockDim.x) k(i);
}
template <class K> __global__ void g_warps(K k, long n) {
  long item = ((long)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  DevWarp w;
  if (item < n) k(item, threadIdx.x & 31, w);
}
static Stream g_stream;  // the stream of the context being run (one run at a time per process)
template <class K> static void launch_threads_dev(const K& k, long n) {
  if (n <= 0) return;
  long blocks = (n + 255) / 256;
  if (blocks > 65535L * 16) blocks = 65535L * 16;
  g_threads<<<(unsigned)blocks, 256, 0, g_stream>>>(k, n);
}
template <class K> static void launch_warps_dev(const K& k, long n) {
  if (n <= 0) return;
  long blocks = (n + 3) / 4;  // 4 warps per block
  g_warps<<<(unsigned)blocks, 128, 0, g_stream>>>(k, n);
}
#define LAUNCH_THREADS(k, n) launch_threads_dev(k, (long)(n))
#define LAUNCH_WARPS(k, n) launch_warps_dev(k, (long)(n))
#endif

// ---- contexts ----
struct Range { u32 off, bytes; bool owned; u32 lo, hi; };
struct Ctx {
  u8* host = nullptr;  // mirror, `reserve` bytes reserved
  size_t reserve = 0;
  u8* dev = nullptr;
  size_t dev_bytes = 0;
  float* S = nullptr;  // attention scores
  size_t s_bytes = 0;
  Stream stream{};
  std::vector<Range> ranges;
};
static std::vector<Ctx*> g_ctx(1, nullptr);

static Ctx* get(u32 h) {
  if (h == 0 || h >= g_ctx.size() || !g_ctx[h]) { set_err("invalid CUDA context handle %u", h); return nullptr; }
  return g_ctx[h];
}

// Device arena of at least `top` bytes: grows by copying (load time; offsets stay valid).
static bool ensure(Ctx* c, size_t top) {
  if (top <= c->dev_bytes) return true;
  if (top > c->reserve) { set_err("arena top %zu beyond the reservation %zu", top, c->reserve); return false; }
  size_t want = c->dev_bytes + c->dev_bytes / 2;
  if (want < top) want = top;
  want = (want + (1 << 21) - 1) & ~(size_t)((1 << 21) - 1);
  if (want > c->reserve) want = c->reserve;
  u8* d = (u8*)dev_alloc(want);
  if (!d) return false;
  if (!dev_zero(d, want, c->stream)) return false;
  if (c->dev && !dev_d2d(d, c->dev, c->dev_bytes, c->stream)) return false;
  if (!dev_sync(c->stream)) return false;
  if (c->dev) dev_free(c->dev);
  c->dev = d;
  c->dev_bytes = want;
  return true;
}

static bool ensure_scores(Ctx* c, size_t bytes) {
  if (bytes <= c->s_bytes) return true;
  if (!dev_sync(c->stream)) return false;
  if (c->S) dev_free(c->S);
  c->S = (float*)dev_alloc(bytes);
  c->s_bytes = c->S ? bytes : 0;
  return c->S != nullptr;
}

extern "C" {

u32 tsr_cuda_abi_version() { return TSR_CUDA_ABI_VERSION; }
u32 tsr_cuda_emulated() {
#ifdef TSR_EMU
  return 1;
#else
  return 0;
#endif
}
const char* tsr_cuda_error() { return g_err; }

u32 tsr_cuda_device_count() {
#ifdef TSR_EMU
  return 1;
#else
  int n = 0;
  if (!ok(cudaGetDeviceCount(&n), "cudaGetDeviceCount")) return 0;
  return (u32)n;
#endif
}

// A context on `device` with a host mirror of `reserve_mib` MiB (virtual; committed on touch). 0: failed (tsr_cuda_error).
u32 tsr_cuda_create(u32 reserve_mib, u32 device) {
  Ctx* c = new Ctx();
  c->reserve = (size_t)reserve_mib << 20;
  void* m = mmap(nullptr, c->reserve, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED) { set_err("cannot reserve %u MiB of host address space", reserve_mib); delete c; return 0; }
  c->host = (u8*)m;
  if (!dev_init((int)device, &c->stream) || !ensure(c, 1 << 20)) { munmap(c->host, c->reserve); delete c; return 0; }
  g_ctx.push_back(c);
  return (u32)(g_ctx.size() - 1);
}

void* tsr_cuda_base(u32 h) { Ctx* c = get(h); return c ? c->host : nullptr; }
u32 tsr_cuda_device_bytes(u32 h) { Ctx* c = get(h); return c ? (u32)(c->dev_bytes >> 20) : 0; }

// Copies host mirror bytes [off, off+bytes) to the device now (weights, at load). 0 on success.
u32 tsr_cuda_upload(u32 h, u32 off, u32 bytes, u32 top) {
  Ctx* c = get(h);
  if (!c || !ensure(c, top)) return 1;
  if (!dev_h2d(c->dev + off, c->host + off, bytes, c->stream) || !dev_sync(c->stream)) return 1;
  return 0;
}

// Registers [off, off+bytes) as host-visible (a view was taken). Uploads what the host wrote in the
// other ranges, then brings this one's device bytes to the host. 0 on success.
u32 tsr_cuda_host_range(u32 h, u32 off, u32 bytes, u32 top) {
  Ctx* c = get(h);
  if (!c || !ensure(c, top)) return 1;
  for (const Range& r : c->ranges)
    if (off >= r.off && off + bytes <= r.off + r.bytes) return 0;
  for (const Range& r : c->ranges)
    if (!r.owned && !dev_h2d(c->dev + r.off, c->host + r.off, r.bytes, c->stream)) return 1;
  if (!dev_d2h(c->host + off, c->dev + off, bytes, c->stream) || !dev_sync(c->stream)) return 1;
  c->ranges.push_back(Range{off, bytes, false, 0, 0});
  return 0;
}

static void wrote(Ctx* c, u32 off, size_t bytes) {
  for (Range& r : c->ranges) {
    size_t lo = off > r.off ? off : r.off, hi = (size_t)off + bytes < (size_t)r.off + r.bytes ? (size_t)off + bytes : (size_t)r.off + r.bytes;
    if (lo >= hi) continue;
    if (!r.owned || r.lo == r.hi) { r.lo = (u32)lo; r.hi = (u32)hi; }
    else { if (lo < r.lo) r.lo = (u32)lo; if (hi > r.hi) r.hi = (u32)hi; }
    r.owned = true;
  }
}

// Runs n commands of 16 words at host offset `cmds`. 0 on success, else 1 (tsr_cuda_error).
u32 tsr_cuda_run(u32 h, u32 cmds, u32 n, u32 top) {
  Ctx* c = get(h);
  if (!c || !ensure(c, top)) return 1;
#ifndef TSR_EMU
  g_stream = c->stream;
#endif
  u8* D = c->dev;
  static const bool trace = getenv("TESSERA_CUDA_TRACE") != nullptr;
  size_t up = 0, nup = 0, down = 0;
  for (Range& r : c->ranges) {
    if (!r.owned) {
      if (!dev_h2d(D + r.off, c->host + r.off, r.bytes, c->stream)) return 1;
      up += r.bytes;
      nup++;
    }
    r.lo = r.hi = 0;
  }
  const u32* W = (const u32*)(c->host + cmds);
#define P(k) (a[k] ? (void*)(D + a[k]) : nullptr)
#define F(k) bits_f32(a[k])
  for (u32 ci = 0; ci < n; ci++) {
    const u32* a = W + 16 * ci;
    u32 op = a[0];
    switch (op) {
      case 1: {  // MATMUL wtype, w, x, out, n_in, n_out, n_tok, scratch, chunk
        u32 t = a[1], n_in = a[5], n_out = a[6], n_tok = a[7];
        if (!blk_bytes(t) || (t == T_F32 || t == T_F16 ? n_in % 32 : n_in % blk_vals(t))) { set_err("cuda MATMUL: type %u with n_in %u not supported", t, n_in); return 1; }
        if (t != T_F32 && !a[8]) { set_err("cuda MATMUL: no scratch (reserve() not called)"); return 1; }
        u8* sc = (u8*)P(8);
        Matmul m{t, (const u8*)P(2), (const float*)P(3), (float*)P(4), n_in, n_out, n_tok, nullptr, nullptr, nullptr, nullptr};
        size_t nv = (size_t)n_tok * n_in;
        if (t == T_Q8_0 || t == T_Q4_0) {
          m.qs = (int8_t*)sc; m.d = (float*)(sc + ((nv + 15) & ~(size_t)15));
          LAUNCH_THREADS((ActQ8_0{m.x, (int8_t*)m.qs, (float*)m.d}), nv / 32);
        } else if (t == T_Q4_K || t == T_Q6_K) {
          m.qs = (int8_t*)sc; m.d = (float*)(sc + ((nv + 15) & ~(size_t)15)); m.bsums = (i32*)((u8*)m.d + ((nv / 256 * 4 + 15) & ~(size_t)15));
          LAUNCH_THREADS((ActQ8_K{m.x, (int8_t*)m.qs, (float*)m.d, (i32*)m.bsums}), nv / 256);
        } else if (t == T_F16) {
          m.xh = (u16*)sc;
          LAUNCH_THREADS((ActF16{m.x, (u16*)m.xh}), nv);
        }
        LAUNCH_WARPS(m, (size_t)n_out * ((n_tok + MM_TT - 1) / MM_TT));
        wrote(c, a[4], (size_t)n_tok * n_out * 4);
        break;
      }
      case 2: {  // GET_ROWS type, table, ids, out, n_cols, n_ids
        if (!blk_bytes(a[1])) { set_err("cuda GET_ROWS: type %u not supported", a[1]); return 1; }
        LAUNCH_THREADS((GetRows{a[1], (const u8*)P(2), (const i32*)P(3), (float*)P(4), a[5]}), (size_t)a[5] * a[6]);
        wrote(c, a[4], (size_t)a[5] * a[6] * 4);
        break;
      }
      case 3:  // RMSNORM x, w, out, n, n_rows, eps
        LAUNCH_WARPS((RmsNorm{(const float*)P(1), (const float*)P(2), (float*)P(3), a[4], F(6)}), a[5]);
        wrote(c, a[3], (size_t)a[4] * a[5] * 4);
        break;
      case 4: {  // ROPE x, out, pos, n_tok, n_head, head_dim, n_rot, mode, base, scale, ff
        float ts = powf(F(9), -2.0f / (float)a[7]);
        Rope r{(const float*)P(1), (float*)P(2), (const i32*)P(3), a[5], a[6], a[7], a[8], ts, F(10), (const float*)P(11)};
        if (a[7] > a[6] || a[7] % 2) { set_err("cuda ROPE: n_rot %u with head_dim %u", a[7], a[6]); return 1; }
        LAUNCH_THREADS(r, (size_t)a[4] * a[5] * r.per_head());
        wrote(c, a[2], (size_t)a[4] * a[5] * a[6] * 4);
        break;
      }
      case 5:  // SOFTMAX x, out, n, n_rows, scale
        LAUNCH_WARPS((Softmax{(const float*)P(1), (float*)P(2), a[3], F(5)}), a[4]);
        wrote(c, a[2], (size_t)a[3] * a[4] * 4);
        break;
      case 6:  // SILU x, out, n
        LAUNCH_THREADS((Elementwise{EW_SILU, (const float*)P(1), nullptr, (float*)P(2), 0, 0.0f, 0}), a[3]);
        wrote(c, a[2], (size_t)a[3] * 4);
        break;
      case 7:  // SWIGLU gate, up, out, n
        LAUNCH_THREADS((Elementwise{EW_SWIGLU, (const float*)P(1), (const float*)P(2), (float*)P(3), 0, 0.0f, 0}), a[4]);
        wrote(c, a[3], (size_t)a[4] * 4);
        break;
      case 8:  // GELU x, out, n, up, flags
        LAUNCH_THREADS((Elementwise{a[4] ? (u32)EW_GEGLU : (u32)EW_GELU, (const float*)P(1), (const float*)P(4), (float*)P(2), 0, 0.0f, a[5]}), a[3]);
        wrote(c, a[2], (size_t)a[3] * 4);
        break;
      case 9: case 10:  // ADD/MUL a, b, out, n, n_b
        LAUNCH_THREADS((Elementwise{op == 9 ? (u32)EW_ADD : (u32)EW_MUL, (const float*)P(1), (const float*)P(2), (float*)P(3), a[5], 0.0f, 0}), a[4]);
        wrote(c, a[3], (size_t)a[4] * 4);
        break;
      case 11:  // SCALE x, out, n, s
        LAUNCH_THREADS((Elementwise{EW_SCALE, (const float*)P(1), nullptr, (float*)P(2), 0, F(4), 0}), a[3]);
        wrote(c, a[2], (size_t)a[3] * 4);
        break;
      case 14:  // SOFTCAP x, out, n, cap
        LAUNCH_THREADS((Elementwise{EW_SOFTCAP, (const float*)P(1), nullptr, (float*)P(2), 0, F(4), 0}), a[3]);
        wrote(c, a[2], (size_t)a[3] * 4);
        break;
      case 15:  // NORM x, w, b, out, n, n_rows, eps
        LAUNCH_WARPS((Norm{(const float*)P(1), (const float*)P(2), (const float*)P(3), (float*)P(4), a[5], F(7)}), a[6]);
        wrote(c, a[4], (size_t)a[5] * a[6] * 4);
        break;
      case 12: {  // KV_STORE src, n_tok, row_len, pos, pages, page_size, kv_type
        u32 t = a[7], rl = a[3];
        if (t != T_F32 && t != T_F16 && t != T_Q8_0 && t != T_Q4_0) { set_err("cuda KV_STORE: kv type %u not supported", t); return 1; }
        if ((t == T_Q8_0 || t == T_Q4_0) && rl % 32) { set_err("cuda KV_STORE: row of %u values is not a whole number of blocks", rl); return 1; }
        u32 per = (t == T_F32 || t == T_F16) ? rl : rl / 32;
        LAUNCH_THREADS((KvStore{(const float*)P(1), rl, (const i32*)P(4), (const u32*)P(5), a[6], t, D}), (size_t)a[2] * per);
        break;
      }
      case 13: {  // ATTENTION q, out, n_tok, q_pos, n_kv, n_head, n_head_kv, head_dim, k_pages, v_pages, layout, window, scale, scratch, softcap
        u32 lay = a[11], ps = lay & 0xfff, vf = (lay >> 12) & 0xff, kt = (lay >> 20) & 0xff, flags = lay >> 28;
        u32 vt = vf ? vf - 1 : kt;
        u32 n_tok = a[3], n_kv = a[5], nh = a[6], nhk = a[7], hd = a[8];
        if (!nhk || nh % nhk) { set_err("cuda ATTENTION: %u heads over %u kv heads", nh, nhk); return 1; }
        size_t sb = (size_t)n_tok * nh * (n_kv ? n_kv : 1) * 4;
        if (!ensure_scores(c, sb)) return 1;
        AttnShape s{(const float*)P(1), (float*)P(2), (const i32*)P(4), n_kv, nh, nhk, hd, (const u32*)P(9), (const u32*)P(10), ps, kt, vt, a[12],
                    (u32)((flags & 1) && kt == T_F16 && vt == T_F16), F(13), F(15), D, c->S};
        if (n_kv) {
          LAUNCH_THREADS((AttnScores{s}), (size_t)n_tok * nh * n_kv);
          LAUNCH_WARPS((AttnSoftmax{s}), (size_t)n_tok * nh);
        }
        LAUNCH_THREADS((AttnOut{s}), (size_t)n_tok * nh * hd);
        wrote(c, a[2], (size_t)n_tok * nh * hd * 4);
        break;
      }
      case OP_COPY:  // src, dst, bytes
        if (!dev_d2d(D + a[2], D + a[1], a[3], c->stream)) return 1;
        break;
      default:
        set_err("cuda: op %u not supported", op);
        return 1;
    }
#ifndef TSR_EMU
    cudaError_t e = cudaGetLastError();
    if (e != cudaSuccess) { set_err("cuda: launching op %u (command %u): %s", op, ci, cudaGetErrorString(e)); return 1; }
#endif
  }
#undef P
#undef F
  for (Range& r : c->ranges) {
    if (r.hi > r.lo && !dev_d2h(c->host + r.lo, D + r.lo, r.hi - r.lo, c->stream)) return 1;
    down += r.hi - r.lo;
  }
  if (trace) fprintf(stderr, "tsr_cuda_run: %u commands, %zu ranges: uploaded %zu bytes in %zu, downloaded %zu bytes\n", n, c->ranges.size(), up, nup, down);
  return dev_sync(c->stream) ? 0 : 1;
}

void tsr_cuda_destroy(u32 h) {
  Ctx* c = get(h);
  if (!c) return;
  dev_sync(c->stream);
  if (c->dev) dev_free(c->dev);
  if (c->S) dev_free(c->S);
  dev_destroy_stream(c->stream);
  munmap(c->host, c->reserve);
  delete c;
  g_ctx[h] = nullptr;
}

}  // extern "C"
