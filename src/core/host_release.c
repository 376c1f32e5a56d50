/*
 * host_release.c — gives host memory an engine no longer reads back to the system.
 *
 * An inference-only model's convolution weights, once its engine holds them folded
 * and reordered in memory of its own, are not read again: their pages are handed
 * back (madvise MADV_DONTNEED on the whole pages inside the range; the few bytes at
 * either end that share a page with other parameters stay). The slab stays mapped,
 * and a released page reads as zeros.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "engine.h"

void r50_host_release(const float *p, size_t n) {
  const uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  const uintptr_t lo = ((uintptr_t)p + page - 1) / page * page;
  const uintptr_t hi = ((uintptr_t)(p + n)) / page * page;
  if (p && hi > lo)
    (void)madvise((void *)lo, hi - lo, MADV_DONTNEED); /* a hint: failing costs nothing */
}
