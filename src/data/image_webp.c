/*
 * image_webp.c — WebP to RGB with libwebp, pixel for pixel as Pillow 9.4's WebP plugin
 * followed by convert('RGB') on the same libwebp.
 *
 * Pillow reads every WebP file, still or animated, lossy or lossless, through
 * libwebpdemux's WebPAnimDecoder with its default options (non-premultiplied RGBA, no
 * threads) and takes the first frame: the canvas zero-filled, the frame decoded into
 * it at its offset. convert('RGB') then drops alpha, never compositing it; a first
 * frame smaller than the canvas leaves the rest black. The same calls are made here.
 * The EXIF chunk, where there is one, gives the orientation (PIL's getexif() reads it).
 *
 * Rule: the canvas size is checked (r50_image_check_dims) from the demuxed header before
 * WebPAnimDecoderNew, which allocates two canvases of width x height x 4 bytes. A file
 * libwebp cannot demux whole (cut short, or damaged) fails, as in PIL.
 */
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>
#include <webp/demux.h>

#include "error.h"
#include "image.h"

/* Why WebPDemux refused a file (at least the 12 bytes "RIFF" size "WEBP"): cut short
 * when it holds fewer bytes than its RIFF header says, else damaged. */
static const char *demux_failure(const uint8_t *d, size_t len) {
  uint64_t riff_end = 8 + ((uint64_t)d[4] | (uint64_t)d[5] << 8 | (uint64_t)d[6] << 16 |
                           (uint64_t)d[7] << 24);
  return riff_end > len ? "truncated WebP data" : "corrupt WebP data";
}

static int exif_orientation_of(const WebPDemuxer *demux) {
  WebPChunkIterator it;
  int orientation = 1;
  if (WebPDemuxGetChunk(demux, "EXIF", 1, &it))
    orientation = r50_exif_orientation(it.chunk.bytes, it.chunk.size);
  WebPDemuxReleaseChunkIterator(&it);
  return orientation;
}

/* The first frame's canvas (RGBA, w x h) into out as RGB. */
static r50_status first_frame(const WebPData *data, const char *name, int64_t w,
                              int64_t h, r50_image *out, r50_error *err) {
  WebPAnimDecoderOptions dec_opts;
  if (!WebPAnimDecoderOptionsInit(&dec_opts))
    return r50_fail(err, R50_ERR_UNSUPPORTED,
                    "%s: libwebp's ABI differs from the headers'", name);
  dec_opts.color_mode = MODE_RGBA;
  dec_opts.use_threads = 0;
  WebPAnimDecoder *dec = WebPAnimDecoderNew(data, &dec_opts);
  if (!dec)
    return r50_fail(err, R50_ERR_NOMEM, "%s: out of memory for a %dx%d WebP canvas", name,
                    (int)w, (int)h);
  uint8_t *rgba = NULL;
  int timestamp;
  r50_status s = R50_OK;
  if (!WebPAnimDecoderGetNext(dec, &rgba, &timestamp))
    s = r50_fail(err, R50_ERR_FORMAT, "%s: corrupt WebP data (the first frame)", name);
  if (s == R50_OK)
    s = r50_image_alloc_rgb(name, w, h, &out->rgb, err);
  if (s == R50_OK) {
    size_t n = (size_t)w * (size_t)h;
    for (size_t i = 0; i < n; i++)
      memcpy(out->rgb + 3 * i, rgba + 4 * i, 3);
    out->width = (int)w;
    out->height = (int)h;
  }
  WebPAnimDecoderDelete(dec);
  return s;
}

r50_status r50_webp_decode(const uint8_t *bytes, size_t len, const char *name,
                           const r50_decode_opts *opts, r50_image *out, int *orientation,
                           r50_error *err) {
  *orientation = 1;
  WebPData data = {bytes, len};
  WebPDemuxer *demux = WebPDemux(&data);
  if (!demux)
    return r50_fail(err, R50_ERR_FORMAT, "%s: %s", name, demux_failure(bytes, len));
  int64_t w = WebPDemuxGetI(demux, WEBP_FF_CANVAS_WIDTH);
  int64_t h = WebPDemuxGetI(demux, WEBP_FF_CANVAS_HEIGHT);
  if (opts->exif_rotate)
    *orientation = exif_orientation_of(demux);
  WebPDemuxDelete(demux);
  R50_TRY(r50_image_check_dims(name, w, h, opts, err));
  return first_frame(&data, name, w, h, out, err);
}
