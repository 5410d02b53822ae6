// Warp-level reductions with one definition of the reduction order (xor butterfly, offsets 16..1),
// so the host emulation gives the bits the GPU gives: lane l adds v[l ^ off] to v[l] at each step.
//
// Kernels that need a reduction are written as per-lane bodies `k(item, lane, w)` taking a warp `w`
// with sum/max; on the GPU a warp of 32 threads runs them (DevWarp, __shfl_xor_sync), in the host
// emulation 32 fibers do (EmuWarp, wasm/cuda/emu.h), switching at each reduction. Bodies keep the
// warp's control flow uniform around reductions (the GPU's full-mask shuffles need it too).
#pragma once
#include "common.cuh"

#ifndef TSR_EMU
struct DevWarp {
  __device__ __forceinline__ float sum(float v) const {
    for (int o = 16; o; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
  }
  __device__ __forceinline__ double sumd(double v) const {
    for (int o = 16; o; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
  }
  __device__ __forceinline__ float max(float v) const {
    for (int o = 16; o; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
  }
};
#endif
