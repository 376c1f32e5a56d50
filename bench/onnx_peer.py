#!/usr/bin/env python3
"""ONNX Runtime and OpenVINO peers for r50worker's CPU benchmark (bench/bench_cpu.sh).

  export MODEL.onnx   (Debian's PyTorch: /usr/bin/python3) torchvision's resnet50,
                      random weights, eval mode, fc removed: its output is pool5
                      (batch, 2048); the batch axis is dynamic.
  ort MODEL.onnx      (the bench venv) ONNX Runtime's CPU provider, all graph
                      optimisations, --threads intra-op threads, sequential execution.
  openvino MODEL.onnx (the bench venv) OpenVINO's CPU plugin, --precision f32|bf16 as
                      its INFERENCE_PRECISION_HINT, --threads as INFERENCE_NUM_THREADS,
                      the LATENCY hint (one stream: one batch at a time, as the others).

Each runner takes a random (batch, 3, 224, 224) input: two warm-up iterations, then
iterations until --seconds have passed. Prints a timing summary and, as its last line,
`img_per_s=<float>` (images over the elapsed time of the timed iterations).

torchvision's resnet50 strides on the 3x3 conv: Chainer's downsample_fb=True layout
(4.09 GMAC per image), what `r50worker bench --downsample-fb` runs.
"""

import argparse
import statistics
import sys
import time


def export(path):
    import torch
    import torchvision

    model = torchvision.models.resnet50(weights=None)
    model.fc = torch.nn.Identity()
    model.eval()
    x = torch.randn(1, 3, 224, 224)
    torch.onnx.export(model, x, path, input_names=["x"], output_names=["pool5"],
                      dynamic_axes={"x": {0: "batch"}, "pool5": {0: "batch"}},
                      opset_version=13)
    print(f"exported torchvision {torchvision.__version__} resnet50 to {path}")


def timed(run, batch, seconds, label):
    for _ in range(2):
        run()
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    ms = [1000.0 * t for t in times]
    print(f"{label}: batch {batch}, {len(times)} iterations, median {statistics.median(ms):.1f} ms,"
          f" min {min(ms):.1f} ms")
    print(f"img_per_s={batch * len(times) / elapsed:.3f}")


def run_ort(args):
    import numpy as np
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(args.model, so, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((args.batch, 3, 224, 224), dtype=np.float32)
    timed(lambda: sess.run(None, {"x": x}), args.batch, args.seconds,
          f"onnxruntime {ort.__version__} fp32, {args.threads} threads")


def run_openvino(args):
    import numpy as np
    import openvino as ov

    core = ov.Core()
    model = core.read_model(args.model)
    model.reshape({"x": [args.batch, 3, 224, 224]})
    cfg = {"INFERENCE_PRECISION_HINT": args.precision,
           "INFERENCE_NUM_THREADS": str(args.threads),
           "PERFORMANCE_HINT": "LATENCY", "NUM_STREAMS": "1"}
    compiled = core.compile_model(model, "CPU", cfg)
    got = compiled.get_property("INFERENCE_PRECISION_HINT")
    req = compiled.create_infer_request()
    x = np.random.default_rng(0).standard_normal((args.batch, 3, 224, 224), dtype=np.float32)
    timed(lambda: req.infer({0: x}), args.batch, args.seconds,
          f"openvino {ov.__version__} {args.precision} (runs as {got}), {args.threads} threads")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=["export", "ort", "openvino"])
    p.add_argument("model")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--precision", choices=["f32", "bf16"], default="f32")
    args = p.parse_args()
    if args.what == "export":
        export(args.model)
    elif args.what == "ort":
        run_ort(args)
    else:
        run_openvino(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
