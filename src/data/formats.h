/*
 * formats.h — the image formats r50worker reads, named once for every message that
 * lists them (decoding, the dataset walk, one-image arguments).
 */
#ifndef R50_FORMATS_H
#define R50_FORMATS_H

#ifdef R50_HAVE_HEIF
#define R50_FORMATS_OR "JPEG, PNG, WebP, GIF, BMP, PNM, TIFF, JPEG 2000, HEIF or AVIF"
#define R50_FORMATS_AND "JPEG, PNG, WebP, GIF, BMP, PNM, TIFF, JPEG 2000, HEIF and AVIF"
#define R50_FORMATS_HEIF_EXTS " .heic .heif .hif .avif"
#define R50_FORMATS_OTHER_EXTS ".jxl"
#define R50_FORMATS_BY_CONTENT "JPEG, PNG, WebP, GIF, BMP, TIFF, JPEG 2000, HEIF or AVIF"
#else /* (a build without libheif: -DR50_HEIF=OFF) */
#define R50_FORMATS_OR "JPEG, PNG, WebP, GIF, BMP, PNM, TIFF or JPEG 2000"
#define R50_FORMATS_AND "JPEG, PNG, WebP, GIF, BMP, PNM, TIFF and JPEG 2000"
#define R50_FORMATS_HEIF_EXTS ""
#define R50_FORMATS_OTHER_EXTS ".heic .heif .hif .avif .jxl"
#define R50_FORMATS_BY_CONTENT "JPEG, PNG, WebP, GIF, BMP, TIFF or JPEG 2000"
#endif
/* R50_FORMATS_OTHER_EXTS: image formats this build does not read (a folder walk leaves
 * such files out, and says so) */
/* the extensions a folder walk takes (r50_has_image_ext: any case) */
#define R50_FORMATS_EXTS                                                                 \
  ".jpg .jpeg .jpe .jfif .png .webp .gif .bmp .dib .pbm .pgm .ppm .pnm .tif .tiff .jp2 " \
  ".j2k .jpx .jpc .jpf .j2c" R50_FORMATS_HEIF_EXTS
#endif
