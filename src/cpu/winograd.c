/*
 * winograd.c — the weight half of winograd.h: G g G^T of every filter, once per
 * weight change (the kernels are in winograd_avx2.c).
 */
#include "winograd.h"

/* G of F(4x4, 3x3) on the points 0, 1, -1, 1/2, -2 and infinity (see winograd.h). */
static const double G[6][3] = {{1, 0, 0},
                               {1.0 / 3, 1.0 / 3, 1.0 / 3},
                               {-1.0 / 3, 1.0 / 3, -1.0 / 3},
                               {-16.0 / 15, -8.0 / 15, -4.0 / 15},
                               {1.0 / 15, -2.0 / 15, 4.0 / 15},
                               {0, 0, 1}};

size_t r50_wino_weights_floats(int cin, int cout) {
  return (size_t)36 * cin * cout;
}

void r50_wino_weights(const float *w, int cin, int cout, float *u, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int o = 0; o < cout; o++)
    for (int c = 0; c < cin; c++) {
      const float *g = w + ((size_t)o * cin + c) * 9;
      double t[6][3]; /* G g */
      for (int i = 0; i < 6; i++)
        for (int j = 0; j < 3; j++)
          t[i][j] = G[i][0] * g[j] + G[i][1] * g[3 + j] + G[i][2] * g[6 + j];
      for (int i = 0; i < 6; i++)
        for (int j = 0; j < 6; j++) { /* (G g) G^T, at [i*6+j][o/16][c][o%16] */
          const double v = t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2];
          u[(((size_t)(i * 6 + j) * (cout / 16) + o / 16) * cin + c) * 16 + o % 16] =
              (float)v;
        }
    }
}
