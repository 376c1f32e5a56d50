/*
 * formats.h — the image formats r50worker reads, named once for every message that
 * lists them (decoding, the dataset walk, one-image arguments).
 */
#ifndef R50_FORMATS_H
#define R50_FORMATS_H

#define R50_FORMATS_OR "JPEG, PNG, WebP, GIF, BMP, PNM, TIFF or JPEG 2000"
#define R50_FORMATS_AND "JPEG, PNG, WebP, GIF, BMP, PNM, TIFF and JPEG 2000"
/* the extensions a folder walk takes (r50_has_image_ext: any case) */
#define R50_FORMATS_EXTS                                                                 \
  ".jpg .jpeg .jpe .jfif .png .webp .gif .bmp .dib .pbm .pgm .ppm .pnm .tif .tiff .jp2 " \
  ".j2k .jpx .jpc .jpf .j2c"
/* the formats a file without an extension is taken for, by its first bytes */
#define R50_FORMATS_BY_CONTENT "JPEG, PNG, WebP, GIF, BMP, TIFF or JPEG 2000"

#endif
