/*
 * layers.c — the layer list and each layer's output shape, walked from the table.
 */
#include "layers.h"

#include <string.h>

#include "error.h"
#include "model.h"

_Static_assert(R50_N_LAYERS == R50_MAX_LAYERS,
               "r50.h's R50_MAX_LAYERS is the table's count");

const char *const *r50_available_layers(int *n) {
  if (n)
    *n = R50_N_LAYERS;
  return r50_layer_names;
}

int r50_layer_index(const char *name) {
  for (int i = 0; i < R50_N_LAYERS; i++)
    if (!strcmp(r50_layer_names[i], name))
      return i;
  return -1;
}

static void grow(int64_t *max, int64_t c, int64_t n, int64_t h, int64_t w) {
  if (c * n * h * w > *max)
    *max = c * n * h * w;
}

void r50_plan_shapes(const r50_net *net, int64_t n, int64_t h, int64_t w,
                     r50_shape_plan *p) {
  memset(p, 0, sizeof *p);
  grow(&p->max_act, 3, n, h, w);
  const r50_conv_desc *c1 = &net->conv1;
  h = r50_out_size(h, c1->ksize, c1->stride, c1->pad, 0);
  w = r50_out_size(w, c1->ksize, c1->stride, c1->pad, 0);
  p->layer[R50_CONV1] = (r50_act){NULL, c1->cout, n, h, w};
  grow(&p->max_act, c1->cout, n, h, w);
  const r50_pool_desc *p1 = &net->pool1;
  h = r50_out_size(h, p1->ksize, p1->stride, p1->pad, p1->cover_all);
  w = r50_out_size(w, p1->ksize, p1->stride, p1->pad, p1->cover_all);
  p->layer[R50_POOL1] = (r50_act){NULL, c1->cout, n, h, w};
  for (int s = 0; s < R50_STAGES; s++) {
    const r50_stage_desc *st = &net->stages[s];
    for (int b = st->first; b < st->first + st->count; b++) {
      const r50_conv_desc *c = net->blocks[b].conv;
      int64_t h1 = r50_out_size(h, c[0].ksize, c[0].stride, c[0].pad, 0);
      int64_t w1 = r50_out_size(w, c[0].ksize, c[0].stride, c[0].pad, 0);
      int64_t h2 = r50_out_size(h1, c[1].ksize, c[1].stride, c[1].pad, 0);
      int64_t w2 = r50_out_size(w1, c[1].ksize, c[1].stride, c[1].pad, 0);
      grow(&p->max_act, c[0].cout, n, h1, w1);
      grow(&p->max_act, c[1].cout, n, h2, w2);
      grow(&p->max_act, c[2].cout, n, h2, w2);
      h = h2;
      w = w2;
    }
    p->layer[R50_RES2 + s] = (r50_act){NULL, st->cout, n, h, w};
  }
  p->layer[R50_POOL5] = (r50_act){NULL, net->feat_dim, n, 1, 1};
  p->layer[R50_FC6] = (r50_act){NULL, net->n_classes, n, 1, 1};
  p->layer[R50_PROB] = (r50_act){NULL, net->n_classes, n, 1, 1};
  p->vec = n * ((int64_t)net->feat_dim + 2 * (int64_t)net->n_classes);
}

void r50_user_shape(int l, const r50_act *a, int64_t shape[R50_MAX_DIMS], int *ndim) {
  shape[0] = a->n;
  shape[1] = a->c;
  if (l >= R50_POOL5) {
    *ndim = 2;
    return;
  }
  shape[2] = a->h;
  shape[3] = a->w;
  *ndim = 4;
}

r50_status r50_check_input_size(int64_t n, int64_t h, int64_t w, r50_error *err) {
  if (n < 1 || h < R50_MIN_SIZE || w < R50_MIN_SIZE)
    return r50_fail(err, R50_ERR_ARG,
                    "input of %lld image%s of %lldx%lld: need at least 1 image of at "
                    "least %dx%d pixels",
                    (long long)n, n == 1 ? "" : "s", (long long)h, (long long)w,
                    R50_MIN_SIZE, R50_MIN_SIZE);
  return R50_OK;
}

r50_status r50_layer_shape(const r50_model *m, const char *layer, int64_t n, int64_t h,
                           int64_t w, int64_t shape[R50_MAX_DIMS], int *ndim,
                           r50_error *err) {
  int li = r50_layer_index(layer);
  if (li < 0)
    return r50_fail(err, R50_ERR_ARG, "unknown layer '%s'", layer);
  R50_TRY(r50_check_input_size(n, h, w, err));
  r50_shape_plan p;
  r50_plan_shapes(&m->net, n, h, w, &p);
  r50_user_shape(li, &p.layer[li], shape, ndim);
  return R50_OK;
}
