/*
 * bn_fold.c — folds an inference-mode BatchNormalization into its convolution.
 *
 * y = gamma * (conv(x) + b - mean) / sqrt(var + eps) + beta becomes conv'(x) + b' with
 * W'[o] = W[o] * s[o], b'[o] = beta[o] + (b[o] - mean[o]) * s[o], s =
 * gamma/sqrt(var+eps). The scale is computed in double so folding adds no error beyond
 * one rounding.
 */
#include <math.h>

#include "ops_cpu.h"

void r50_fold_bn(const r50_conv_desc *c, const r50_conv_params *p, float *wf, float *bf) {
  const int64_t k = (int64_t)c->cin * c->ksize * c->ksize;
  for (int o = 0; o < c->cout; o++) {
    double s = (double)p->gamma[o] / sqrt((double)p->var[o] + p->eps);
    for (int64_t i = 0; i < k; i++)
      wf[o * k + i] = (float)(p->w[o * k + i] * s);
    bf[o] = (float)(p->beta[o] + ((p->b ? p->b[o] : 0.0) - p->mean[o]) * s);
  }
}
