/* A stand-in for libcuda.so.1 (test/hardware/detect.test.ts): two devices with known attributes, so the
 * koffi binding in src/hardware/cuda.ts is exercised end to end on a machine without a GPU. */
#include <string.h>
#include <stddef.h>
int cuInit(unsigned int flags) { return flags == 0 ? 0 : 1; }
int cuDeviceGetCount(int *n) { *n = 2; return 0; }
int cuDeviceGet(int *dev, int ordinal) { *dev = 10 + ordinal; return ordinal < 2 ? 0 : 101; }
int cuDeviceGetName(char *name, int len, int dev) {
  const char *s = dev == 10 ? "Fake H100 80GB HBM3" : "Fake L4";
  strncpy(name, s, (size_t)len); name[len - 1] = 0; return 0;
}
int cuDeviceGetAttribute(int *v, int attr, int dev) {
  int big = dev == 10;
  switch (attr) {
    case 16: *v = big ? 132 : 58; return 0;        /* SM count */
    case 36: *v = big ? 2619000 : 6251000; return 0; /* memory clock, kHz */
    case 37: *v = big ? 5120 : 192; return 0;      /* bus width, bits */
    default: return 1;
  }
}
int cuDeviceTotalMem_v2(size_t *bytes, int dev) { *bytes = dev == 10 ? (size_t)85520809984ULL : (size_t)23580639232ULL; return 0; }
