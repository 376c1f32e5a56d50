/*
 * formats.h — the image formats r50worker reads, named once for every message that
 * lists them (decoding, the dataset walk, one-image arguments). HEIF/AVIF (libheif)
 * and JPEG XL (libjxl) are read where the build has their libraries
 * (-DR50_HEIF=OFF, -DR50_JXL=OFF leave them out).
 */
#ifndef R50_FORMATS_H
#define R50_FORMATS_H

/* the list's tail, after TIFF */
#if defined(R50_HAVE_HEIF) && defined(R50_HAVE_JXL)
#define R50_FORMATS_TAIL_OR ", JPEG 2000, HEIF, AVIF or JPEG XL"
#define R50_FORMATS_TAIL_AND ", JPEG 2000, HEIF, AVIF and JPEG XL"
#elif defined(R50_HAVE_HEIF)
#define R50_FORMATS_TAIL_OR ", JPEG 2000, HEIF or AVIF"
#define R50_FORMATS_TAIL_AND ", JPEG 2000, HEIF and AVIF"
#elif defined(R50_HAVE_JXL)
#define R50_FORMATS_TAIL_OR ", JPEG 2000 or JPEG XL"
#define R50_FORMATS_TAIL_AND ", JPEG 2000 and JPEG XL"
#else
#define R50_FORMATS_TAIL_OR " or JPEG 2000"
#define R50_FORMATS_TAIL_AND " and JPEG 2000"
#endif

#define R50_FORMATS_OR "JPEG, PNG, WebP, GIF, BMP, PNM, TIFF" R50_FORMATS_TAIL_OR
#define R50_FORMATS_AND "JPEG, PNG, WebP, GIF, BMP, PNM, TIFF" R50_FORMATS_TAIL_AND
/* the formats a file without an extension is taken for, by its first bytes */
#define R50_FORMATS_BY_CONTENT "JPEG, PNG, WebP, GIF, BMP, TIFF" R50_FORMATS_TAIL_OR

#ifdef R50_HAVE_HEIF
#define R50_FORMATS_HEIF_EXTS " .heic .heif .hif .avif"
#define R50_FORMATS_NO_HEIF_EXTS ""
#else
#define R50_FORMATS_HEIF_EXTS ""
#define R50_FORMATS_NO_HEIF_EXTS " .heic .heif .hif .avif"
#endif
#ifdef R50_HAVE_JXL
#define R50_FORMATS_JXL_EXTS " .jxl"
#define R50_FORMATS_NO_JXL_EXTS ""
#else
#define R50_FORMATS_JXL_EXTS ""
#define R50_FORMATS_NO_JXL_EXTS " .jxl"
#endif

/* the extensions a folder walk takes (r50_has_image_ext: any case) */
#define R50_FORMATS_EXTS                                                                 \
  ".jpg .jpeg .jpe .jfif .png .webp .gif .bmp .dib .pbm .pgm .ppm .pnm .tif .tiff .jp2 " \
  ".j2k .jpx .jpc .jpf .j2c" R50_FORMATS_HEIF_EXTS R50_FORMATS_JXL_EXTS

/* image files this build does not read: a folder walk leaves them out, and says so
 * once. Cameras' raw files (beside their JPEGs, as cameras write RAW+JPEG pairs)
 * first, then the formats of the libraries the build was made without. */
#define R50_FORMATS_OTHER_EXTS                                                           \
  ".cr2 .cr3 .crw .nef .nrw .arw .srf .sr2 .orf .rw2 .raf .pef .dng .x3f .erf .kdc "     \
  ".mrw .3fr .iiq .rwl .srw .raw" R50_FORMATS_NO_HEIF_EXTS R50_FORMATS_NO_JXL_EXTS
#endif
