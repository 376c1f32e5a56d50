/*
 * layers.h — the shape of every layer's output for an input size, from the table:
 * what the walk plans its buffers with and what r50_layer_shape reports.
 */
#ifndef R50_LAYERS_H
#define R50_LAYERS_H

#include <stdint.h>

#include "engine.h"
#include "table.h"

typedef struct r50_shape_plan {
  r50_act layer[R50_N_LAYERS]; /* dims of each layer's output (data unset) */
  int64_t max_act;             /* floats of the largest activation of the walk */
  int64_t vec;                 /* floats of pool5, fc6 and prob side by side */
} r50_shape_plan;

/* The plan for n images of h x w (h, w >= 32). */
void r50_plan_shapes(const r50_net *net, int64_t n, int64_t h, int64_t w,
                     r50_shape_plan *p);

/* Chainer's layout of layer l's output: (n, c, h, w), or (n, c) from pool5 on. */
void r50_user_shape(int l, const r50_act *a, int64_t shape[R50_MAX_DIMS], int *ndim);

/* R50_ERR_ARG unless n >= 1 and h, w >= 32. */
r50_status r50_check_input_size(int64_t n, int64_t h, int64_t w, r50_error *err);

#endif
