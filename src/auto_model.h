/*
 * auto_model.h — pretrained "auto": Chainer's cached ResNet-<n>-model.npz, converted
 * from the ResNet-<n>-model.caffemodel beside it on first use.
 */
#ifndef R50_AUTO_MODEL_H
#define R50_AUTO_MODEL_H

#include "r50.h"

/* Loads the npz at r50_auto_model_path into m, first converting the caffemodel in the
 * same folder when only that exists (once across processes). Neither present is
 * R50_ERR_NOT_FOUND with a message saying where to get and put the weights. */
r50_status r50_load_auto(r50_model *m, r50_error *err);

#endif
