/*
 * bn_fold.c — folds each inference-mode BatchNormalization into its convolution.
 *
 * y = gamma * (conv(x) + b - mean) / sqrt(var + eps) + beta becomes conv'(x) + b' with
 * W'[o] = W[o] * s[o], b'[o] = beta[o] + (b[o] - mean[o]) * s[o], s = gamma/sqrt(var+eps).
 * The scale is computed in double so folding adds no error beyond one rounding.
 */
#include <math.h>

#include "model.h"

static void fold_conv(r50_model *m, const r50_conv_desc *c) {
  const float *w = r50_param_data(m, c->w);
  const float *bias = c->b >= 0 ? r50_param_data(m, c->b) : NULL;
  const float *gamma = r50_param_data(m, c->bn);
  const float *beta = r50_param_data(m, c->bn + 1);
  const float *mean = r50_param_data(m, c->bn + 2);
  const float *var = r50_param_data(m, c->bn + 3);
  int64_t k = (int64_t)c->cin * c->ksize * c->ksize;
  float *wf = m->folded + c->folded_offset;
  float *bf = wf + (int64_t)c->cout * k;
  for (int o = 0; o < c->cout; o++) {
    double s = (double)gamma[o] / sqrt((double)var[o] + R50_BN_EPS);
    for (int64_t i = 0; i < k; i++)
      wf[o * k + i] = (float)(w[o * k + i] * s);
    bf[o] = (float)(beta[o] + ((bias ? bias[o] : 0.0) - mean[o]) * s);
  }
}

void r50_fold_bn(r50_model *m) {
  fold_conv(m, &m->net.conv1);
  for (int i = 0; i < m->net.n_blocks; i++) {
    const r50_bottleneck_desc *b = &m->net.blocks[i];
    for (int j = 0; j < (b->has_shortcut ? 4 : 3); j++)
      fold_conv(m, &b->conv[j]);
  }
}
