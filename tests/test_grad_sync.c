/*
 * test_grad_sync.c — the gradient buckets every rank plans alike (MPI and NCCL start
 * them in the same order): contiguous, covering the slab exactly, the top of the slab
 * first (backward finishes it first), at most R50_SYNC_MAX_BUCKETS, each about the
 * size asked.
 */
#include <stdio.h>

#include "grad_sync.h"
#include "test_util.h"

static void check_plan(int64_t n, int64_t bucket) {
  int64_t lo[R50_SYNC_MAX_BUCKETS], hi[R50_SYNC_MAX_BUCKETS];
  const int k = r50_grad_sync_plan(n, bucket, lo, hi);
  CHECK(k >= 1 && k <= R50_SYNC_MAX_BUCKETS, "n %lld, bucket %lld: %d buckets",
        (long long)n, (long long)bucket, k);
  CHECK(hi[0] == n && lo[k - 1] == 0, "n %lld: buckets span [%lld, %lld)", (long long)n,
        (long long)lo[k - 1], (long long)hi[0]);
  for (int b = 0; b < k; b++) {
    CHECK(lo[b] <= hi[b], "bucket %d is [%lld, %lld)", b, (long long)lo[b],
          (long long)hi[b]);
    if (b > 0)
      CHECK(hi[b] == lo[b - 1], "bucket %d does not end where bucket %d starts", b,
            b - 1);
    if (k < R50_SYNC_MAX_BUCKETS && bucket > 0)
      CHECK(hi[b] - lo[b] <= bucket + 1, "bucket %d holds %lld floats, more than %lld", b,
            (long long)(hi[b] - lo[b]), (long long)bucket);
  }
  int64_t lo2[R50_SYNC_MAX_BUCKETS], hi2[R50_SYNC_MAX_BUCKETS];
  CHECK(r50_grad_sync_plan(n, bucket, lo2, hi2) == k,
        "the plan is a function of its inputs");
}

int main(void) {
  check_plan(25557096, (int64_t)1 << 22); /* ResNet-50, 16 MiB buckets: 7 */
  check_plan(60192872, (int64_t)1 << 22); /* ResNet-152: 15 */
  check_plan(60192872, (int64_t)1 << 20); /* capped at 16 */
  check_plan(1000, 0);
  check_plan(7, 3);
  check_plan(1, 1 << 22);
  int64_t lo[R50_SYNC_MAX_BUCKETS], hi[R50_SYNC_MAX_BUCKETS];
  CHECK(r50_grad_sync_plan(25557096, (int64_t)1 << 22, lo, hi) == 7,
        "ResNet-50: 7 buckets");
  return test_result("test_grad_sync");
}
