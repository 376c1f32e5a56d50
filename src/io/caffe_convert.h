/*
 * caffe_convert.h — Chainer's _transfer_resnet50/101/152: the model table's parameters
 * filled from the layers of an MSRA ResNet caffemodel (K. He's deep-residual-networks).
 *
 * Rule: the mapping is Chainer's, value for value: conv W, BN avg_mean and avg_var
 * divided (in float32) by the BatchNorm's third blob when it has one, Scale → gamma and
 * beta, fc1000 → fc6, conv1's bias taken for ResNet-50 only (0 for 101/152, as
 * Chainer's freshly built link has it), every BN's N 0. The r50_convert_caffemodel_to_npz
 * of r50.h is built on these.
 */
#ifndef R50_CAFFE_CONVERT_H
#define R50_CAFFE_CONVERT_H

#include "caffemodel.h"
#include "r50.h"
#include "table.h"

/* The architecture the layer names say (res4b35 → 152, res4b22 → 101, res4f → 50):
 * R50_OK with *arch set, or R50_ERR_NOT_FOUND (err untouched) when none fits. */
r50_status r50_caffe_infer_arch(const caffe_net *cn, r50_arch *arch);

/* Checks that cn has every layer and blob, with the right shapes, that the parameters
 * of `net` need; `file` names the caffemodel in messages. Writes nothing. */
r50_status r50_caffe_check(const caffe_net *cn, const r50_net *net, const char *file,
                           r50_error *err);

/* Loads a caffemodel into m by Chainer's mapping: strict and atomic (on any error m is
 * unchanged); a caffemodel of another depth is R50_ERR_MISMATCH. */
r50_status r50_load_caffemodel(r50_model *m, const char *path, r50_error *err);

#endif
