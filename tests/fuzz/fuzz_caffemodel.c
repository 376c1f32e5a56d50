/*
 * fuzz_caffemodel.c — libFuzzer target: the caffemodel reader (r50_caffe_net_parse) on
 * any bytes, then, when they parse, the depth inference and Chainer's mapping checks
 * against the ResNet-50 table. Any input must give R50_OK or an error, never a crash,
 * leak or out-of-bounds access.
 */
#include <stddef.h>
#include <stdint.h>

#include "caffe_convert.h"
#include "caffemodel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static r50_net net50;
  static int built;
  if (!built)
    built = r50_net_build(R50_ARCH_50, 0, 1000, &net50, NULL) == R50_OK;
  caffe_net cn;
  r50_error err;
  if (r50_caffe_net_parse(data, size, "fuzz.caffemodel", &cn, &err) != R50_OK)
    return 0;
  r50_arch arch;
  r50_caffe_infer_arch(&cn, &arch);
  if (built)
    r50_caffe_check(&cn, &net50, "fuzz.caffemodel", &err);
  r50_caffe_net_free(&cn);
  return 0;
}
