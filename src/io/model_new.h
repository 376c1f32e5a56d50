/*
 * model_new.h — model_new.c's constructor beside r50_model_new: a model whose
 * parameters a file is about to fill.
 */
#ifndef R50_MODEL_NEW_H
#define R50_MODEL_NEW_H

#include "r50.h"

/* A new model as r50_model_new makes it without cfg->pretrained, but its parameters
 * zero rather than random: for a file to fill (a pretrained model, a checkpoint), so
 * that the random values are neither drawn (a second or so of a rank's start) nor
 * written over. */
r50_model *r50_model_new_unfilled(const r50_config *cfg, r50_error *err);

#endif
