/*
 * formats.h — the image formats r50worker reads, named once for every message that
 * lists them (decoding, the dataset walk, one-image arguments).
 */
#ifndef R50_FORMATS_H
#define R50_FORMATS_H

#define R50_FORMATS_OR "JPEG, PNG, WebP, GIF, BMP, PNM, TIFF or JPEG 2000"
#define R50_FORMATS_AND "JPEG, PNG, WebP, GIF, BMP, PNM, TIFF and JPEG 2000"

#endif
