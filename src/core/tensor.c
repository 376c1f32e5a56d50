/*
 * tensor.c — r50_tensor helpers.
 */
#include <stdlib.h>
#include <string.h>

#include "r50.h"

int64_t r50_tensor_numel(const r50_tensor *t) {
  int64_t n = 1;
  for (int i = 0; i < t->ndim; i++)
    n *= t->shape[i];
  return n;
}

void r50_tensor_free(r50_tensor *t) {
  if (!t)
    return;
  if (t->owned)
    free(t->data);
  memset(t, 0, sizeof *t);
}
