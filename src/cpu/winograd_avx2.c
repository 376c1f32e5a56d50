/*
 * winograd_avx2.c — winograd.h's F(4x4, 3x3) convolution with AVX2 + FMA (compiled
 * with those flags only; chosen at run time).
 *
 * The batch's 4x4 output tiles are taken a block at a time (block_tiles: 30, or 96
 * from 256 channels on). For each block: the input transform B^T d B of every tile
 * and input channel (eight channels a vector, as nChw8c holds them) into
 * V[36][tiles][cin]; then for each of the 36 positions the GEMM M[xi] = V[xi] U[xi]
 * over the input channels, in order, with a 6-tile x 16-channel register block; then
 * the output transform A^T m A, the bias and the ReLU, into y. With enough blocks each
 * thread takes whole blocks in its own scratch; with few (a small batch of small
 * maps), the threads share each block's transforms and GEMMs. Either way each output
 * is computed by the same operations in the same order.
 */
#include <immintrin.h>
#include <omp.h>

#include "winograd.h"

enum { MR = 6 }; /* tiles a register block */

/* Tiles a block (a multiple of MR): 30, whose V and M fit a 512 KiB L2 at 128
 * channels; 96 from 256 channels on, whose transformed weights (9.4 MB) would
 * otherwise be read from memory once per 30 tiles. */
static int block_tiles(int cin) {
  return cin >= 256 ? 96 : 30;
}

size_t r50_wino_scratch_floats(int cin, int cout, int threads) {
  return (size_t)threads * 36 * block_tiles(cin) * ((size_t)cin + (size_t)cout);
}

/* B^T d along one axis: d[0..5 step s] -> t[0..5 step s] (the points of winograd.h). */
#define BT6(d, t, s)                                                                     \
  do {                                                                                   \
    const __m256 d0 = d[0], d1 = d[s], d2 = d[2 * s], d3 = d[3 * s], d4 = d[4 * s],      \
                 d5 = d[5 * s];                                                          \
    const __m256 h = _mm256_set1_ps(0.5f), one5 = _mm256_set1_ps(1.5f),                  \
                 two = _mm256_set1_ps(2.0f), two5 = _mm256_set1_ps(2.5f);                \
    /* t0 = d0 - 1.5 d1 - 2 d2 + 1.5 d3 + d4 */                                          \
    t[0] = _mm256_add_ps(                                                                \
        _mm256_fmadd_ps(one5, _mm256_sub_ps(d3, d1), _mm256_fnmadd_ps(two, d2, d0)),     \
        d4);                                                                             \
    /* t1 = -d1 + 0.5 d2 + 2.5 d3 + d4;  t2 = d1 - 2.5 d2 + 0.5 d3 + d4 */               \
    t[s] = _mm256_add_ps(_mm256_fmadd_ps(two5, d3, _mm256_fmsub_ps(h, d2, d1)), d4);     \
    t[2 * s] =                                                                           \
        _mm256_add_ps(_mm256_fnmadd_ps(two5, d2, _mm256_fmadd_ps(h, d3, d1)), d4);       \
    /* t3 = -2 d1 - d2 + 2 d3 + d4;  t4 = 0.5 d1 - d2 - 0.5 d3 + d4 */                   \
    t[3 * s] = _mm256_sub_ps(_mm256_fmadd_ps(two, _mm256_sub_ps(d3, d1), d4), d2);       \
    t[4 * s] = _mm256_sub_ps(_mm256_fmadd_ps(h, _mm256_sub_ps(d1, d3), d4), d2);         \
    /* t5 = d1 - 1.5 d2 - 2 d3 + 1.5 d4 + d5 */                                          \
    t[5 * s] = _mm256_add_ps(                                                            \
        _mm256_fmadd_ps(one5, _mm256_sub_ps(d4, d2), _mm256_fnmadd_ps(two, d3, d1)),     \
        d5);                                                                             \
  } while (0)

/* A^T m along one axis: m[0..5 step s] -> o[0..3 step os]. */
#define AT4(m, o, s, os)                                                                 \
  do {                                                                                   \
    const __m256 p = _mm256_add_ps(m[s], m[2 * s]), q = _mm256_sub_ps(m[s], m[2 * s]);   \
    /* o0 = m0 + m1 + m2 + m3 + m4 */                                                    \
    o[0] = _mm256_add_ps(_mm256_add_ps(m[0], p), _mm256_add_ps(m[3 * s], m[4 * s]));     \
    /* o1 = (m1 - m2) + 0.5 m3 - 2 m4 */                                                 \
    o[os] = _mm256_fnmadd_ps(_mm256_set1_ps(2.0f), m[4 * s],                             \
                             _mm256_fmadd_ps(_mm256_set1_ps(0.5f), m[3 * s], q));        \
    /* o2 = (m1 + m2) + 0.25 m3 + 4 m4 */                                                \
    o[2 * os] = _mm256_fmadd_ps(_mm256_set1_ps(4.0f), m[4 * s],                          \
                                _mm256_fmadd_ps(_mm256_set1_ps(0.25f), m[3 * s], p));    \
    /* o3 = (m1 - m2) + 0.125 m3 - 8 m4 + m5 */                                          \
    o[3 * os] = _mm256_add_ps(                                                           \
        _mm256_fnmadd_ps(_mm256_set1_ps(8.0f), m[4 * s],                                 \
                         _mm256_fmadd_ps(_mm256_set1_ps(0.125f), m[3 * s], q)),          \
        m[5 * s]);                                                                       \
  } while (0)

typedef struct geom {
  int64_t h, w, th, tw, tiles; /* tiles: n * th * tw */
  int cin, cout, tb;           /* tb: tiles a block (block_tiles) */
} geom;

/* The input transform of tile t0 + t, channels [8 cb, 8 cb + 8), into v (zeros for a
 * tile past the batch's last, t >= nt, which the GEMM's 6-tile register blocks still
 * read). */
static void transform_in(const geom *g, const float *x, int64_t t0, int t, int nt, int cb,
                         float *v) {
  __m256 d[36], u[36];
  if (t >= nt) {
    for (int i = 0; i < 36; i++)
      _mm256_storeu_ps(v + ((size_t)i * g->tb + t) * g->cin + cb * 8,
                       _mm256_setzero_ps());
    return;
  }
  const int64_t tile = t0 + t, img = tile / (g->th * g->tw), r = tile % (g->th * g->tw);
  const int64_t y0 = (r / g->tw) * 4 - 1, x0 = (r % g->tw) * 4 - 1;
  const float *base = x + (img * (g->cin / 8) + cb) * g->h * g->w * 8;
  for (int i = 0; i < 6; i++) {
    const int64_t yy = y0 + i;
    for (int j = 0; j < 6; j++) {
      const int64_t xx = x0 + j;
      d[i * 6 + j] = yy >= 0 && yy < g->h && xx >= 0 && xx < g->w
                         ? _mm256_loadu_ps(base + (yy * g->w + xx) * 8)
                         : _mm256_setzero_ps();
    }
  }
  for (int j = 0; j < 6; j++) /* down each column: u = B^T d */
    BT6((d + j), (u + j), 6);
  for (int i = 0; i < 6; i++) /* along each row: (B^T d) B */
    BT6((u + i * 6), (d + i * 6), 1);
  for (int i = 0; i < 36; i++)
    _mm256_storeu_ps(v + ((size_t)i * g->tb + t) * g->cin + cb * 8, d[i]);
}

/* For one of the 36 positions and output channels [16 kb, 16 kb + 16): m[t][k] = the
 * sum over c, in order, of v[t][c] u[kb][c][k % 16], for tiles [0, nt6). */
static void gemm(const float *v, const float *u, float *m, int cin, int cout, int kb,
                 int nt6) {
  const float *uk = u + (size_t)kb * cin * 16;
  for (int t = 0; t < nt6; t += MR) {
    __m256 a[MR][2];
    for (int r = 0; r < MR; r++)
      a[r][0] = a[r][1] = _mm256_setzero_ps();
    const float *vt = v + (size_t)t * cin;
    for (int c = 0; c < cin; c++) {
      const __m256 u0 = _mm256_load_ps(uk + c * 16), u1 = _mm256_load_ps(uk + c * 16 + 8);
      for (int r = 0; r < MR; r++) {
        const __m256 b = _mm256_broadcast_ss(vt + (size_t)r * cin + c);
        a[r][0] = _mm256_fmadd_ps(b, u0, a[r][0]);
        a[r][1] = _mm256_fmadd_ps(b, u1, a[r][1]);
      }
    }
    for (int r = 0; r < MR; r++) {
      _mm256_storeu_ps(m + (size_t)(t + r) * cout + kb * 16, a[r][0]);
      _mm256_storeu_ps(m + (size_t)(t + r) * cout + kb * 16 + 8, a[r][1]);
    }
  }
}

/* The output transform of tile t0 + t, channels [8 kb, 8 kb + 8), plus the bias and
 * the ReLU, into y. */
static void transform_out(const geom *g, const float *m, const float *bias, int relu,
                          int64_t t0, int t, int kb, float *y) {
  const int64_t tile = t0 + t, img = tile / (g->th * g->tw), r = tile % (g->th * g->tw);
  const int64_t y0 = (r / g->tw) * 4, x0 = (r % g->tw) * 4;
  __m256 s[36], o[24], out[16];
  for (int i = 0; i < 36; i++)
    s[i] = _mm256_loadu_ps(m + ((size_t)i * g->tb + t) * g->cout + kb * 8);
  for (int j = 0; j < 6; j++) /* down each column: A^T s, 4 rows of 6 */
    AT4((s + j), (o + j), 6, 6);
  for (int i = 0; i < 4; i++) /* along each row: (A^T s) A */
    AT4((o + i * 6), (out + i * 4), 1, 1);
  const __m256 b = _mm256_loadu_ps(bias + kb * 8), zero = _mm256_setzero_ps();
  float *base = y + (img * (g->cout / 8) + kb) * g->h * g->w * 8;
  for (int i = 0; i < 4 && y0 + i < g->h; i++)
    for (int j = 0; j < 4 && x0 + j < g->w; j++) {
      __m256 val = _mm256_add_ps(out[i * 4 + j], b);
      if (relu)
        val = _mm256_max_ps(val, zero);
      _mm256_storeu_ps(base + ((y0 + i) * g->w + x0 + j) * 8, val);
    }
}

void r50_wino_conv_avx2(const float *u, const float *bias, const float *x, int64_t n,
                        int cin, int cout, int64_t h, int64_t w, int relu, float *y,
                        float *scratch, int threads) {
  geom g = {h, w, (h + 3) / 4, (w + 3) / 4, 0, cin, cout, block_tiles(cin)};
  g.tiles = n * g.th * g.tw;
  const int tb = g.tb;
  const int64_t blocks = (g.tiles + tb - 1) / tb;
  const size_t vf = (size_t)36 * tb * cin, per_thread = vf + (size_t)36 * tb * cout;
  const int cbs = cin / 8, kbs = cout / 16, kb8s = cout / 8;
  if (blocks >= 2 * threads) { /* blocks to threads, each in its own scratch */
#pragma omp parallel num_threads(threads)
    {
      float *v = scratch + (size_t)omp_get_thread_num() * per_thread, *m = v + vf;
#pragma omp for schedule(static)
      for (int64_t b = 0; b < blocks; b++) {
        const int64_t t0 = b * tb;
        const int nt = (int)(g.tiles - t0 < tb ? g.tiles - t0 : tb),
                  nt6 = (nt + 5) / 6 * 6;
        for (int t = 0; t < nt6; t++)
          for (int cb = 0; cb < cbs; cb++)
            transform_in(&g, x, t0, t, nt, cb, v);
        for (int i = 0; i < 36; i++)
          for (int kb = 0; kb < kbs; kb++)
            gemm(v + (size_t)i * tb * cin, u + (size_t)i * cin * cout,
                 m + (size_t)i * tb * cout, cin, cout, kb, nt6);
        for (int t = 0; t < nt; t++)
          for (int kb = 0; kb < kb8s; kb++)
            transform_out(&g, m, bias, relu, t0, t, kb, y);
      }
    }
    return;
  }
  /* few blocks (a small batch of small maps): the threads share each block's work */
  float *v = scratch, *m = v + vf;
#pragma omp parallel num_threads(threads)
  for (int64_t b = 0; b < blocks; b++) {
    const int64_t t0 = b * tb;
    const int nt = (int)(g.tiles - t0 < tb ? g.tiles - t0 : tb), nt6 = (nt + 5) / 6 * 6;
#pragma omp for schedule(static)
    for (int q = 0; q < nt6 * cbs; q++)
      transform_in(&g, x, t0, q / cbs, nt, q % cbs, v);
#pragma omp for schedule(static)
    for (int q = 0; q < 36 * kbs; q++)
      gemm(v + (size_t)(q / kbs) * tb * cin, u + (size_t)(q / kbs) * cin * cout,
           m + (size_t)(q / kbs) * tb * cout, cin, cout, q % kbs, nt6);
#pragma omp for schedule(static)
    for (int q = 0; q < nt * kb8s; q++)
      transform_out(&g, m, bias, relu, t0, q / kb8s, q % kb8s, y);
  }
}
