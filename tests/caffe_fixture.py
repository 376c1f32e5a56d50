#!/usr/bin/env python3
"""Caffemodel fixtures for r50worker's converter, written by an independent encoder.

The caffemodels are serialized by google.protobuf (Debian's python3-protobuf) from a
schema built at run time with the field numbers of Caffe's caffe.proto: NetParameter,
LayerParameter, V1LayerParameter, BlobProto, BlobShape and the parameter messages the
MSRA nets carry. Nothing here shares code or logic with r50worker's C reader.

  make    --arch 50|101 --format new|v1 --seed S --outdir DIR [--no-double]
          DIR/ResNet-<n>-model.caffemodel: random, well-scaled weights in MSRA naming
          (K. He's deep-residual-networks), with packed and unpacked `data`, blobs split
          over several `data` runs (protobuf merge), `double_data` on some blobs (unless
          --no-double: Chainer's CaffeFunction reads `data` only), BatchNorm third blobs
          (moving-average factors) in [0.5, 2] and some BatchNorms without one;
          DIR/expected.npz: the Chainer npz by Chainer's transfer rules, computed here in
          numpy from the drawn arrays (_transfer_resnet50/101 and CaffeFunction's
          _setup_batchnorm: mean and var divided in float32 by the factor; N = 0;
          conv1/b = 0 for 101, where the caffemodel's conv1 has no bias).
  compare EXPECTED.npz GOT.npz
          exact equality: the same keys, dtypes, shapes and bytes.
  chainer --arch N CAFFEMODEL OUT.npz [--expect EXPECTED.npz]
          converts with Chainer's own ResNetLayers.convert_caffemodel_to_npz (run with
          Chainer's Python, tests/with_chainer.sh) and compares with EXPECTED (OUT is
          removed when they are equal).
  tiny    DIR
          small NetParameter files (fuzz seeds and tests/test_caffemodel.c's inputs;
          their values are listed in that test).
"""

import argparse
import os
import sys

import numpy as np

BLOCKS = {50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}
V1_TYPES = {"Convolution": 4, "InnerProduct": 14, "ReLU": 18, "Pooling": 17,
            "Eltwise": 25, "Softmax": 20}  # V1LayerParameter.LayerType; none for BN/Scale


# ---------------------------------------------------------------- the schema

def build_schema():
    """Message classes for caffe.proto's messages (field numbers as in Caffe's file).

    Besides the real messages, variants with the same field numbers but unpacked
    repeated scalars (BlobProtoU, BlobShapeU) and with `bytes` in place of embedded
    messages (LayerRaw, NetRaw, V1LayerRaw) let one file mix packed and unpacked
    encodings: an embedded message is a length-delimited field either way.
    """
    try:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    except ImportError:
        sys.exit("caffe_fixture: python3-protobuf is missing (scripts/setup.sh installs it)")
    F = descriptor_pb2.FieldDescriptorProto
    fd = descriptor_pb2.FileDescriptorProto(name="caffe_fixture.proto", package="fixture",
                                            syntax="proto2")

    def message(name, fields):
        m = fd.message_type.add(name=name)
        for fname, number, ftype, label, extra in fields:
            f = m.field.add(name=fname, number=number, type=ftype, label=label)
            if isinstance(extra, str):
                f.type_name = ".fixture." + extra
            elif extra is not None:
                f.options.packed = extra
        return m

    OPT, REP = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    for suffix, packed in (("", True), ("U", False)):
        message("BlobShape" + suffix, [("dim", 1, F.TYPE_INT64, REP, packed)])
        message("BlobProto" + suffix, [
            ("shape", 7, F.TYPE_MESSAGE, OPT, "BlobShape" + suffix),
            ("data", 5, F.TYPE_FLOAT, REP, packed),
            ("diff", 6, F.TYPE_FLOAT, REP, packed),
            ("double_data", 8, F.TYPE_DOUBLE, REP, packed),
            ("num", 1, F.TYPE_INT32, OPT, None),
            ("channels", 2, F.TYPE_INT32, OPT, None),
            ("height", 3, F.TYPE_INT32, OPT, None),
            ("width", 4, F.TYPE_INT32, OPT, None)])
    message("ConvolutionParameter", [
        ("num_output", 1, F.TYPE_UINT32, OPT, None),
        ("bias_term", 2, F.TYPE_BOOL, OPT, None),
        ("pad", 3, F.TYPE_UINT32, REP, False),
        ("kernel_size", 4, F.TYPE_UINT32, REP, False),
        ("stride", 6, F.TYPE_UINT32, REP, False)])
    message("InnerProductParameter", [
        ("num_output", 1, F.TYPE_UINT32, OPT, None),
        ("bias_term", 2, F.TYPE_BOOL, OPT, None)])
    message("BatchNormParameter", [("use_global_stats", 1, F.TYPE_BOOL, OPT, None)])
    message("ScaleParameter", [("bias_term", 4, F.TYPE_BOOL, OPT, None)])
    message("PoolingParameter", [
        ("pool", 1, F.TYPE_INT32, OPT, None),
        ("kernel_size", 2, F.TYPE_UINT32, OPT, None),
        ("stride", 3, F.TYPE_UINT32, OPT, None)])
    layer_common = [
        ("name", 1, F.TYPE_STRING, OPT, None),
        ("type", 2, F.TYPE_STRING, OPT, None),
        ("bottom", 3, F.TYPE_STRING, REP, None),
        ("top", 4, F.TYPE_STRING, REP, None),
        ("convolution_param", 106, F.TYPE_MESSAGE, OPT, "ConvolutionParameter"),
        ("inner_product_param", 117, F.TYPE_MESSAGE, OPT, "InnerProductParameter"),
        ("pooling_param", 121, F.TYPE_MESSAGE, OPT, "PoolingParameter"),
        ("batch_norm_param", 139, F.TYPE_MESSAGE, OPT, "BatchNormParameter"),
        ("scale_param", 142, F.TYPE_MESSAGE, OPT, "ScaleParameter")]
    message("LayerRaw", layer_common + [("blobs", 7, F.TYPE_BYTES, REP, None)])
    v1_common = [
        ("bottom", 2, F.TYPE_STRING, REP, None),
        ("top", 3, F.TYPE_STRING, REP, None),
        ("name", 4, F.TYPE_STRING, OPT, None),
        ("type", 5, F.TYPE_INT32, OPT, None),  # enum LayerType: same varint encoding
        ("convolution_param", 10, F.TYPE_MESSAGE, OPT, "ConvolutionParameter"),
        ("pooling_param", 19, F.TYPE_MESSAGE, OPT, "PoolingParameter"),
        ("inner_product_param", 17, F.TYPE_MESSAGE, OPT, "InnerProductParameter")]
    message("V1LayerRaw", v1_common + [("blobs", 6, F.TYPE_BYTES, REP, None)])
    message("NetRaw", [
        ("name", 1, F.TYPE_STRING, OPT, None),
        ("layers", 2, F.TYPE_BYTES, REP, None),
        ("input", 3, F.TYPE_STRING, REP, None),
        ("input_dim", 4, F.TYPE_INT32, REP, None),
        ("layer", 100, F.TYPE_BYTES, REP, None)])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    names = ["BlobShape", "BlobShapeU", "BlobProto", "BlobProtoU", "LayerRaw",
             "V1LayerRaw", "NetRaw"]
    get = getattr(message_factory, "GetMessageClass", None)
    classes = {}
    for n in names:
        desc = pool.FindMessageTypeByName("fixture." + n)
        classes[n] = get(desc) if get else message_factory.MessageFactory(pool).GetPrototype(desc)
    return classes


# ---------------------------------------------------------------- encoding blobs

class Encoder:
    """Serializes blobs and layers, cycling through the encodings."""

    def __init__(self, schema, v1, use_double):
        self.s = schema
        self.v1 = v1
        self.use_double = use_double
        self.n = 0

    def blob(self, arr, logical_shape):
        """A serialized BlobProto holding float32 arr with logical_shape."""
        arr = np.ascontiguousarray(arr, dtype=np.float32).ravel()
        kind = self.n % 6 if arr.size > 1 else self.n % 3
        self.n += 1
        if kind == 2 and not self.use_double:
            kind = 0
        packed = kind != 1
        B = self.s["BlobProto" if packed else "BlobProtoU"]
        head = B()
        if self.v1:
            dims = [1] * (4 - len(logical_shape)) + list(logical_shape)
            head.num, head.channels, head.height, head.width = dims
        else:
            head.shape.dim.extend(list(logical_shape))
        if kind == 2:  # double_data, exactly the float32 values widened
            head.double_data.extend(arr.astype(np.float64).tolist())
            return head.SerializeToString()
        if kind == 3:  # two runs of `data`, packed then unpacked: protobuf merges them
            half = arr.size // 2
            head.data.extend(arr[:half].tolist())
            tail = self.s["BlobProtoU"]()
            tail.data.extend(arr[half:].tolist())
            return head.SerializeToString() + tail.SerializeToString()
        if kind == 4:  # a diff to skip, and data before shape in the byte stream
            body = B()
            body.data.extend(arr.tolist())
            extra = B()
            extra.diff.extend([0.25] * min(arr.size, 3))
            return body.SerializeToString() + head.SerializeToString() + extra.SerializeToString()
        head.data.extend(arr.tolist())
        return head.SerializeToString()

    def layer(self, name, typ, blobs=(), bottom=(), top=(), **params):
        """A serialized LayerParameter (or V1LayerParameter) with serialized blobs."""
        L = self.s["V1LayerRaw" if self.v1 else "LayerRaw"]()
        L.name = name
        if self.v1:
            if typ in V1_TYPES:
                L.type = V1_TYPES[typ]
        else:
            L.type = typ
        L.bottom.extend(bottom)
        L.top.extend(top)
        for key, values in params.items():
            if self.v1 and key not in ("convolution_param", "inner_product_param",
                                       "pooling_param"):
                continue
            sub = getattr(L, key)
            for k, v in values.items():
                if isinstance(v, list):
                    getattr(sub, k).extend(v)
                else:
                    setattr(sub, k, v)
        L.blobs.extend(blobs)
        return L.SerializeToString()


# ---------------------------------------------------------------- the network

def caffe_block_names(arch, stage, count):
    """MSRA bottleneck names: 2a, 2b, ... or 3b1, 3b2, ... (res3/res4 of 101/152)."""
    counted = arch != 50 and stage in (1, 2)
    names = [f"{stage + 2}a"]
    for j in range(1, count):
        names.append(f"{stage + 2}b{j}" if counted else f"{stage + 2}{chr(ord('a') + j)}")
    return names


class Fixture:
    """Draws the caffemodel's arrays, writes its layers and the expected Chainer npz."""

    def __init__(self, arch, seed, enc):
        self.arch = arch
        self.rng = np.random.default_rng(seed)
        self.enc = enc
        self.layers = []
        self.expected = {}
        self.n_bn = 0

    def normal(self, shape, std):
        return (self.rng.standard_normal(shape, dtype=np.float32) * np.float32(std))

    def uniform(self, shape, lo, hi):
        return self.rng.uniform(lo, hi, shape).astype(np.float32)

    def component(self, conv, suffix, dst_conv, dst_bn, cin, cout, k, stride, pad,
                  pre_var, gamma_div=1.0, with_bias=False, bias_std=10.0):
        """conv + BatchNorm + Scale in Caffe, conv W (+b) and BN in the expected npz."""
        W = self.normal((cout, cin, k, k), np.sqrt(2.0 / (cin * k * k)))
        blobs = [self.enc.blob(W, W.shape)]
        self.expected[f"{dst_conv}/W"] = W
        if with_bias:
            b = self.normal((cout,), bias_std)
            blobs.append(self.enc.blob(b, b.shape))
            self.expected[f"{dst_conv}/b"] = b
        self.layers.append(self.enc.layer(
            conv, "Convolution", blobs, bottom=["x"], top=[conv],
            convolution_param={"num_output": cout, "bias_term": with_bias,
                               "kernel_size": [k], "stride": [stride], "pad": [pad]}))

        # BatchNorm stores running sums scaled by the moving-average factor (blob 2).
        self.n_bn += 1
        factor = np.float32(self.rng.uniform(0.5, 2.0))
        has_factor = self.n_bn % 7 != 3
        if self.n_bn % 7 == 5:
            factor = np.float32(1.0)
        if not has_factor:
            factor = np.float32(1.0)
        mean = (self.normal((cout,), 0.1 * np.sqrt(pre_var)) * factor).astype(np.float32)
        var = (self.uniform((cout,), 0.5, 1.5) * np.float32(pre_var) * factor).astype(np.float32)
        bn_blobs = [self.enc.blob(mean, (cout,)), self.enc.blob(var, (cout,))]
        if has_factor:
            bn_blobs.append(self.enc.blob(np.array([factor], np.float32), (1,)))
        self.layers.append(self.enc.layer(
            f"bn{suffix}", "BatchNorm", bn_blobs, bottom=[conv], top=[conv],
            batch_norm_param={"use_global_stats": True}))
        # Chainer: avg_mean /= scaling_factor[0] on float32 arrays (a float32 division).
        self.expected[f"{dst_bn}/avg_mean"] = (mean / factor).astype(np.float32) \
            if has_factor else mean
        self.expected[f"{dst_bn}/avg_var"] = (var / factor).astype(np.float32) \
            if has_factor else var

        gamma = (self.uniform((cout,), 0.5, 1.5) / np.float32(gamma_div)).astype(np.float32)
        beta = self.normal((cout,), 0.1)
        self.layers.append(self.enc.layer(
            f"scale{suffix}", "Scale",
            [self.enc.blob(gamma, (cout,)), self.enc.blob(beta, (cout,))],
            bottom=[conv], top=[conv], scale_param={"bias_term": True}))
        self.expected[f"{dst_bn}/gamma"] = gamma
        self.expected[f"{dst_bn}/beta"] = beta
        self.expected[f"{dst_bn}/N"] = np.asarray(0, dtype=np.int64)

    def relu(self, name, blob):
        self.layers.append(self.enc.layer(name, "ReLU", bottom=[blob], top=[blob]))

    def build(self):
        arch = self.arch
        # conv1 sees mean-subtracted pixels (~100): its pre-BN variance is ~1e4.
        self.component("conv1", "_conv1", "conv1", "bn1", 3, 64, 7, 2, 3, 1e4,
                       with_bias=arch == 50)
        if arch != 50:
            self.expected["conv1/b"] = np.zeros(64, np.float32)
        self.relu("conv1_relu", "conv1")
        self.layers.append(self.enc.layer(
            "pool1", "Pooling", bottom=["conv1"], top=["pool1"],
            pooling_param={"pool": 0, "kernel_size": 3, "stride": 2}))
        cin = 64
        for s, count in enumerate(BLOCKS[arch]):
            mid, cout, stride = 64 << s, 256 << s, 1 if s == 0 else 2
            for j, b in enumerate(caffe_block_names(arch, s, count)):
                dst = f"res{s + 2}/" + ("a" if j == 0 else f"b{j}")
                if j == 0:
                    self.component(f"res{b}_branch1", f"{b}_branch1", f"{dst}/conv4",
                                   f"{dst}/bn4", cin, cout, 1, stride, 0, 1.5)
                self.component(f"res{b}_branch2a", f"{b}_branch2a", f"{dst}/conv1",
                               f"{dst}/bn1", cin if j == 0 else cout, mid, 1,
                               stride if j == 0 else 1, 0, 1.0)
                self.relu(f"res{b}_branch2a_relu", f"res{b}_branch2a")
                self.component(f"res{b}_branch2b", f"{b}_branch2b", f"{dst}/conv2",
                               f"{dst}/bn2", mid, mid, 3, 1, 1, 1.0)
                self.relu(f"res{b}_branch2b_relu", f"res{b}_branch2b")
                self.component(f"res{b}_branch2c", f"{b}_branch2c", f"{dst}/conv3",
                               f"{dst}/bn3", mid, cout, 1, 1, 0, 1.0,
                               gamma_div=np.sqrt(count))
                self.layers.append(self.enc.layer(
                    f"res{b}", "Eltwise", bottom=[f"res{b}_branch2c", "x"], top=[f"res{b}"]))
                self.relu(f"res{b}_relu", f"res{b}")
            cin = cout
        self.layers.append(self.enc.layer(
            "pool5", "Pooling", bottom=["x"], top=["pool5"],
            pooling_param={"pool": 1, "kernel_size": 7, "stride": 1}))
        W = self.normal((1000, 2048), np.sqrt(1.0 / 2048))
        b = self.normal((1000,), 0.1)
        self.layers.append(self.enc.layer(
            "fc1000", "InnerProduct", [self.enc.blob(W, W.shape), self.enc.blob(b, b.shape)],
            bottom=["pool5"], top=["fc1000"],
            inner_product_param={"num_output": 1000, "bias_term": True}))
        self.expected["fc6/W"] = W
        self.expected["fc6/b"] = b
        self.layers.append(self.enc.layer("prob", "Softmax", bottom=["fc1000"], top=["prob"]))


def cmd_make(args):
    schema = build_schema()
    enc = Encoder(schema, args.format == "v1", not args.no_double)
    fx = Fixture(args.arch, args.seed, enc)
    fx.build()
    net = schema["NetRaw"]()
    net.name = f"ResNet-{args.arch}"
    net.input.append("data")
    net.input_dim.extend([1, 3, 224, 224])
    (net.layers if args.format == "v1" else net.layer).extend(fx.layers)
    os.makedirs(args.outdir, exist_ok=True)
    path = os.path.join(args.outdir, f"ResNet-{args.arch}-model.caffemodel")
    data = net.SerializeToString()
    with open(path + ".tmp", "wb") as f:
        f.write(data)
    os.replace(path + ".tmp", path)
    np.savez(os.path.join(args.outdir, "expected.npz"), **fx.expected)
    print(f"{path}: {len(data):,} bytes, {len(fx.layers)} {args.format} layers, "
          f"{len(fx.expected)} expected arrays")


# ---------------------------------------------------------------- checks

def compare(expected_path, got_path):
    exp, got = np.load(expected_path), np.load(got_path)
    ek, gk = set(exp.files), set(got.files)
    problems = [f"missing key {k}" for k in sorted(ek - gk)]
    problems += [f"unexpected key {k}" for k in sorted(gk - ek)]
    for k in sorted(ek & gk):
        a, b = exp[k], got[k]
        if a.dtype != b.dtype or a.shape != b.shape:
            problems.append(f"{k}: expected {a.dtype}{a.shape}, got {b.dtype}{b.shape}")
        elif a.tobytes() != b.tobytes():
            diff = np.flatnonzero(a.ravel().view(np.uint8 if a.ndim == 0 else a.dtype) !=
                                  b.ravel().view(np.uint8 if b.ndim == 0 else b.dtype))
            i = diff[0] if diff.size else 0
            problems.append(f"{k}: {diff.size} values differ, first at {i}: "
                            f"expected {a.ravel()[i]!r}, got {b.ravel()[i]!r}")
    for p in problems[:20]:
        print("FAIL", p)
    if problems:
        sys.exit(f"{got_path} differs from {expected_path}: {len(problems)} problem(s)")
    print(f"{got_path} == {expected_path}: {len(ek)} arrays, bit-exact")


def cmd_compare(args):
    compare(args.expected, args.got)


def cmd_chainer(args):
    import time
    # Chainer's caffe_pb2 was generated by an old protoc; protobuf >= 4 loads it only
    # with the pure-Python implementation, chosen before google.protobuf is imported.
    os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")
    from chainer.links.model.vision.resnet import ResNetLayers
    t0 = time.perf_counter()
    # ResNetLayers itself: its subclasses' constructors take no n_layers.
    ResNetLayers.convert_caffemodel_to_npz(args.caffemodel, args.out, n_layers=args.arch)
    print(f"Chainer converted {args.caffemodel} in {time.perf_counter() - t0:.1f} s")
    if args.expect:
        compare(args.expect, args.out)
        os.remove(args.out)  # equal to EXPECTED: no need to keep another 100 MB


# ---------------------------------------------------------------- tiny files

def cmd_tiny(args):
    """Small nets whose parse results tests/test_caffemodel.c checks value for value."""
    s = build_schema()

    def blob(cls, values, shape=None, legacy=None, double=False):
        b = s[cls]()
        if shape is not None:
            b.shape.dim.extend(shape)
        if legacy is not None:
            b.num, b.channels, b.height, b.width = legacy
        (b.double_data if double else b.data).extend(values)
        return b.SerializeToString()

    def layer(name, typ, blobs, v1=False):
        L = s["V1LayerRaw" if v1 else "LayerRaw"]()
        L.name = name
        if v1:
            if typ is not None:
                L.type = typ
        else:
            L.type = typ
        L.blobs.extend(blobs)
        return L.SerializeToString()

    os.makedirs(args.dir, exist_ok=True)

    def write(name, net):
        with open(os.path.join(args.dir, name), "wb") as f:
            f.write(net.SerializeToString())

    # tiny_new: conv (2,1,1,2) packed + bias (2,) as double_data; bn with 3 blobs,
    # var unpacked; a ReLU without blobs.
    net = s["NetRaw"]()
    net.name = "tiny"
    net.layer.extend([
        layer("conv", "Convolution", [blob("BlobProto", [0.5, -1.25, 2.0, 3.5], [2, 1, 1, 2]),
                                      blob("BlobProto", [0.125, -8.0], [2], double=True)]),
        layer("bn", "BatchNorm", [blob("BlobProto", [1.0, 2.0], [2]),
                                  blob("BlobProtoU", [4.0, 8.0], [2]),
                                  blob("BlobProto", [2.0], [1])]),
        layer("relu", "ReLU", [])])
    write("tiny_new.caffemodel", net)

    # tiny_v1: the same weights in V1 layers with legacy 4-D dims.
    net = s["NetRaw"]()
    net.layers.extend([
        layer("conv", 4, [blob("BlobProto", [0.5, -1.25, 2.0, 3.5], legacy=[2, 1, 1, 2]),
                          blob("BlobProtoU", [0.125, -8.0], legacy=[1, 1, 1, 2])], v1=True),
        layer("bn", None, [blob("BlobProto", [1.0, 2.0], legacy=[1, 1, 1, 2]),
                           blob("BlobProto", [4.0, 8.0], legacy=[1, 1, 1, 2]),
                           blob("BlobProto", [2.0], legacy=[1, 1, 1, 1])], v1=True),
        layer("relu", 18, [], v1=True)])
    write("tiny_v1.caffemodel", net)

    # tiny_both: new-style and V1 lists; only the new-style one counts (CaffeFunction).
    net = s["NetRaw"]()
    net.layers.append(layer("old", 4, [blob("BlobProto", [9.0], legacy=[1, 1, 1, 1])], v1=True))
    net.layer.append(layer("fc", "InnerProduct", [blob("BlobProto", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
                                                        [2, 3])]))
    write("tiny_both.caffemodel", net)

    # skeletons: every layer name and type of ResNet-50, no blobs (fuzz seeds that
    # reach the mapping's checks).
    for fmt in ("new", "v1"):
        enc = Encoder(s, fmt == "v1", True)
        fx = Fixture(50, 0, enc)
        fx.enc.blob = lambda arr, shape: b""
        fx.normal = lambda shape, std: np.zeros(shape, np.float32)
        fx.uniform = lambda shape, lo, hi: np.ones(shape, np.float32)
        fx.build()
        net = s["NetRaw"]()
        names = []
        for raw in fx.layers:
            L = s["V1LayerRaw" if fmt == "v1" else "LayerRaw"]()
            L.ParseFromString(raw)
            del L.blobs[:]
            names.append(L.SerializeToString())
        (net.layers if fmt == "v1" else net.layer).extend(names)
        write(f"skeleton50_{fmt}.caffemodel", net)
    print(f"tiny caffemodels in {args.dir}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--arch", type=int, choices=[50, 101, 152], required=True)
    m.add_argument("--format", choices=["new", "v1"], required=True)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--outdir", required=True)
    m.add_argument("--no-double", action="store_true", help="no double_data blobs")
    m.set_defaults(fn=cmd_make)
    c = sub.add_parser("compare")
    c.add_argument("expected")
    c.add_argument("got")
    c.set_defaults(fn=cmd_compare)
    ch = sub.add_parser("chainer")
    ch.add_argument("--arch", type=int, choices=[50, 101, 152], required=True)
    ch.add_argument("caffemodel")
    ch.add_argument("out")
    ch.add_argument("--expect")
    ch.set_defaults(fn=cmd_chainer)
    t = sub.add_parser("tiny")
    t.add_argument("dir")
    t.set_defaults(fn=cmd_tiny)
    args = p.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
