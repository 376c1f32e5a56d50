/*
 * winograd.h — 3x3, stride-1, pad-1 convolutions as Winograd F(4x4, 3x3), on the
 * oneDNN engine's nChw8c activations, for CPUs where oneDNN has no Winograd kernel
 * (its are AVX-512 only): AVX2 + FMA (winograd_avx2.c). The inference walk runs
 * it with BN folded into the weights; training (train_dnnl.c) for the forward and, on
 * the filters turned by 180 degrees and transposed, the backward data.
 *
 * Each 4x4 output tile is A^T [(G g G^T) . (B^T d B)] A, the Toom-Cook matrices of the
 * points 0, 1, -1, 1/2, -2 (and infinity): 36 multiplications per input channel where
 * the direct sum has 144. Lavin & Gray's points 0, +-1, +-2 round 2.4 times as much in
 * float32 (a 128-channel sum simulated in numpy: 6.0e-6 of the largest output against
 * 2.5e-6; Barabasz et al., "Error analysis and improving the accuracy of Winograd
 * convolution", 2020, on choosing the points). The 36 products are 36 GEMMs over the
 * input channels, each output's sum taken in channel order whatever the batch, the
 * tile's position or the thread count, so results are batch- and thread-invariant as
 * the engine promises.
 */
#ifndef R50_WINOGRAD_H
#define R50_WINOGRAD_H

#include <stddef.h>
#include <stdint.h>

/* Floats of the transformed weights of a cin -> cout convolution (cout % 16 == 0,
 * cin % 8 == 0). */
size_t r50_wino_weights_floats(int cin, int cout);

/* u = the transform of w (cout, cin, 3, 3), as the kernel reads it: [36][cout / 16]
 * [cin][16]. Computed in double, rounded once, on `threads` OpenMP threads (the same
 * values whatever their number). */
void r50_wino_weights(const float *w, int cin, int cout, float *u, int threads);

/* Floats of scratch the kernel needs with `threads` threads. */
size_t r50_wino_scratch_floats(int cin, int cout, int threads);

/* y (n, cout, h, w) = conv(x (n, cin, h, w)) + bias, then max(0, .) when relu; x and
 * y nChw8c, u from r50_wino_weights. Runs on `threads` OpenMP threads. */
void r50_wino_conv_avx2(const float *u, const float *bias, const float *x, int64_t n,
                        int cin, int cout, int64_t h, int64_t w, int relu, float *y,
                        float *scratch, int threads);

#endif
