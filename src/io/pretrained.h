/*
 * pretrained.h — resolving a model's `pretrained` setting: "auto" (Chainer's cached
 * ResNet-<n>-model.npz, converted from the ResNet-<n>-model.caffemodel beside it on
 * first use), a Chainer .npz, or an MSRA .caffemodel.
 */
#ifndef R50_PRETRAINED_H
#define R50_PRETRAINED_H

#include <stddef.h>

#include "npz.h"
#include "r50.h"

/* Loads `pretrained` ("auto", a path ending in .caffemodel, or an npz path) into a
 * new model m; strict as r50_load_npz, but an npz is read straight into m's slabs,
 * without a second copy: on failure m is half loaded, for its caller to free. With
 * fc6_may_differ, an fc6 of another class count in the file is not loaded (m keeps
 * its own) and *fc6_loaded says so. */
r50_status r50_load_pretrained(r50_model *m, const char *pretrained, int fc6_may_differ,
                               int *fc6_loaded, r50_error *err);

/* r50_load_npz, with fc6_may_differ as above; in_place: straight into m's slabs (not
 * atomic, as r50_load_pretrained). */
r50_status r50_load_npz_into(r50_model *m, const char *path, int fc6_may_differ,
                             int *fc6_loaded, int in_place, r50_error *err);

/* The prefix of the ResNet's keys in an npz (root, cap bytes): "" for a file of the
 * network alone (its "conv1/W" is a key), else the one P under which P"conv1/W" and
 * P"res2/a/conv1/W" are keys — a model saved inside a larger Chainer object
 * ("predictor/" of L.Classifier, "updater/model:main/predictor/" of a Trainer
 * snapshot). None found is "" (the strict load names what is missing); several are
 * R50_ERR_MISMATCH naming them. */
r50_status r50_npz_model_root(const npz_reader *r, const char *path, char *root,
                              size_t cap, r50_error *err);

/* The class count of `pretrained`'s fc6: the rows of an npz's fc6/W (a fine-tuned
 * model's K), else 1000 ("auto", a caffemodel, or an npz without a 2-d fc6/W, which
 * the strict load then names). A file that cannot be read is an error. */
r50_status r50_pretrained_classes(const char *pretrained, int *classes, r50_error *err);

#endif
