/*
 * tar_shards.h — WebDataset tar shards as dataset rows: listing a shard's samples
 * once, and reading one sample's image bytes back.
 *
 * Rule: a sample is the run of consecutive members sharing a key (the member path up
 * to the first dot of its file name, as WebDataset defines it); its image is the first
 * member ending in an extension a folder walk takes (r50_has_image_ext: .jpg, .png,
 * .webp, .gif, .bmp, .ppm, .tif...), its label the .cls member (else -1). Nothing a shard
 * holds fails the job: a damaged or truncated shard, a sample without an image or a bad
 * .cls becomes a row whose read fails with a message naming shard and key.
 */
#ifndef R50_TAR_SHARDS_H
#define R50_TAR_SHARDS_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"

/* Whether `name` names a tar shard by its extension: .tar, .tar.gz, .tgz, .tar.bz2,
 * .tar.xz, .tar.zst (any case). */
int r50_is_shard_name(const char *name);

/* Whether `spec` holds a WebDataset brace pattern: {A..B} (numbers, zero-padded to
 * A's width) or {x,y,...}. */
int r50_has_braces(const char *spec);

/* Expands every brace pattern of spec, left to right, in order (*out: n malloc'd
 * strings in a malloc'd array). A malformed pattern is R50_ERR_ARG naming it. */
r50_status r50_brace_expand(const char *spec, char ***out, int64_t *n, r50_error *err);

/* Appends the samples of the shards (paths relative to ds->root, or absolute), in
 * order, as rows "SHARD/KEY"; ds->root must be set and ds must hold no rows yet. Up to
 * eight shards are read at once (OpenMP threads), the rows the same as one after
 * another. */
r50_status r50_tar_list(r50_dataset *ds, char *const *shards, int64_t n_shards,
                        r50_error *err);

/* Reading state of one thread (an open shard, a position in a compressed one). */
typedef struct r50_tar_cursor r50_tar_cursor;

/* The image bytes of row `row` of a shard dataset into *data (malloc'd), at most
 * max_bytes. *cur (NULL at first) keeps the open shard between calls; rows read in
 * order read a compressed shard once. Failures name the row ("SHARD/KEY: cause"). */
r50_status r50_tar_read(const r50_dataset *ds, int64_t row, r50_tar_cursor **cur,
                        uint64_t max_bytes, uint8_t **data, size_t *len, r50_error *err);
void r50_tar_cursor_free(r50_tar_cursor *cur); /* NULL is a no-op */

#endif
