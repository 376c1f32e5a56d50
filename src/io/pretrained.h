/*
 * pretrained.h — resolving a model's `pretrained` setting: "auto" (Chainer's cached
 * ResNet-<n>-model.npz, converted from the ResNet-<n>-model.caffemodel beside it on
 * first use), a Chainer .npz, or an MSRA .caffemodel.
 */
#ifndef R50_PRETRAINED_H
#define R50_PRETRAINED_H

#include "r50.h"

/* Loads `pretrained` ("auto", a path ending in .caffemodel, or an npz path) into m;
 * strict and atomic as r50_load_npz. */
r50_status r50_load_pretrained(r50_model *m, const char *pretrained, r50_error *err);

/* Loads the npz at r50_auto_model_path into m, first converting the caffemodel in the
 * same folder when only that exists (once across processes). Neither present is
 * R50_ERR_NOT_FOUND with a message saying where to get and put the weights. */
r50_status r50_load_auto(r50_model *m, r50_error *err);

#endif
