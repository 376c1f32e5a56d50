/*
 * formats.h — the image formats r50worker reads, named once for every message that
 * lists them (decoding, the dataset walk, one-image arguments).
 */
#ifndef R50_FORMATS_H
#define R50_FORMATS_H

#define R50_FORMATS_OR "JPEG, PNG, WebP, GIF, BMP, PNM or TIFF"
#define R50_FORMATS_AND "JPEG, PNG, WebP, GIF, BMP, PNM and TIFF"

#endif
