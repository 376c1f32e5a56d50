/*
 * image_resize_avx2.c — Pillow's resize passes (image_resize_pass.h) compiled with
 * AVX2; image_resize.c calls them where r50_cpu_features_get() says the CPU has it.
 */
#include "image_resize_axis.h"

#define R50_RESIZE_FN(name) r50_resize_##name##_avx2
#define R50_RESIZE_PASS
#include "image_resize_pass.h"
