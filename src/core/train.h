/*
 * train.h — what the training walk exposes to the layers above and to tests, beyond
 * r50.h's r50_forward_train / r50_backward.
 */
#ifndef R50_TRAIN_H
#define R50_TRAIN_H

#include <stdint.h>

#include "r50.h"

/* After r50_forward_train: which outputs of conv unit `conv_id` (its output after BN,
 * the residual and the ReLU) are > 0, as a malloc'd (n, c, h, w) byte mask. */
r50_status r50_train_relu_mask(r50_model *m, int conv_id, uint8_t **mask,
                               int64_t shape[4], r50_error *err);

#endif
