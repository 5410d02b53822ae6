// Host emulation of the launches (built with -DTSR_EMU, no GPU): a thread-per-element kernel is a
// loop; a warp kernel runs each item's 32 lanes as fibers (ucontext) that switch at every warp
// reduction, lane 0 to 31 in turn, so the per-lane bodies run unchanged and reduce in the GPU's order.
#pragma once
#include <ucontext.h>
#include <stdlib.h>
#include <string.h>
#include "common.cuh"

namespace emu {
struct Sched {
  ucontext_t main, lanes[32];
  char* stacks = nullptr;
  int cur = 0;
  float fv[32];
  double dv[32];
  void (*body)(void*, int) = nullptr;
  void* arg = nullptr;
};
static thread_local Sched* S;
static const size_t STACK = 256 * 1024;

inline void next_lane() {
  int l = S->cur;
  if (l < 31) {
    S->cur = l + 1;
    swapcontext(&S->lanes[l], &S->lanes[l + 1]);
  } else {
    S->cur = 0;
    swapcontext(&S->lanes[31], &S->lanes[0]);
  }
}
template <class T, class Op> inline T reduce(T* v, T x, Op op) {
  int lane = S->cur;
  v[lane] = x;
  if (lane == 31) {
    for (int o = 16; o; o >>= 1) {
      T t[32];
      for (int l = 0; l < 32; l++) t[l] = op(v[l], v[l ^ o]);
      memcpy(v, t, sizeof t);
    }
  }
  next_lane();
  return v[lane];
}
}  // namespace emu

struct EmuWarp {
  float sum(float x) const { return emu::reduce(emu::S->fv, x, [](float a, float b) { return a + b; }); }
  double sumd(double x) const { return emu::reduce(emu::S->dv, x, [](double a, double b) { return a + b; }); }
  float max(float x) const { return emu::reduce(emu::S->fv, x, [](float a, float b) { return fmaxf(a, b); }); }
};

namespace emu {
inline void lane_entry() {
  int lane = S->cur;
  S->body(S->arg, lane);
  if (lane < 31) {
    S->cur = lane + 1;
    setcontext(&S->lanes[lane + 1]);
  } else {
    setcontext(&S->main);
  }
}
// Runs body(arg, lane) for lanes 0..31 as fibers.
inline void run_warp(void (*body)(void*, int), void* arg) {
  static thread_local Sched sched;
  S = &sched;
  if (!S->stacks) S->stacks = (char*)malloc(32 * STACK);
  S->body = body;
  S->arg = arg;
  for (int l = 0; l < 32; l++) {
    getcontext(&S->lanes[l]);
    S->lanes[l].uc_stack.ss_sp = S->stacks + l * STACK;
    S->lanes[l].uc_stack.ss_size = STACK;
    S->lanes[l].uc_link = nullptr;
    makecontext(&S->lanes[l], lane_entry, 0);
  }
  S->cur = 0;
  swapcontext(&S->main, &S->lanes[0]);
}
}  // namespace emu

template <class K> void launch_threads(const K& k, long n) {
  for (long i = 0; i < n; i++) k(i);
}
template <class K> struct WarpItem {
  const K* k;
  long item;
  static void call(void* a, int lane) {
    WarpItem* w = (WarpItem*)a;
    EmuWarp wp;
    (*w->k)(w->item, lane, wp);
  }
};
template <class K> void launch_warps(const K& k, long n) {
  for (long i = 0; i < n; i++) {
    WarpItem<K> w{&k, i};
    emu::run_warp(&WarpItem<K>::call, &w);
  }
}
