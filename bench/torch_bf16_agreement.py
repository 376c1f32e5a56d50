#!/usr/bin/env python3
"""How far PyTorch's own bf16 autocast moves a randomly initialised ResNet-50 from its
float32 self, on the real test photos: the yardstick for cuda_parity's bf16 checks
(pool5 cosine >= 0.999, top-1 the same on >= 99%), which run on random weights.

For each seed: torchvision's resnet50 with its default initialisation, BN statistics
calibrated as cuda_parity calibrates its network (24 training-mode forwards of 8
random 96x96 images), then the photos in eval mode, float32 and under
torch.autocast(bfloat16) (on the CPU: the same bfloat16 rounding a GPU does). Prints
the worst pool5 cosine, the top-1 agreement and how close the float32 top-1 calls are.

usage: torch_bf16_agreement.py PHOTOS.f32 [SEEDS]
  PHOTOS.f32: 224x224 images, float32 NCHW, as tests/gpu/prepare.sh writes
  (gpu-bundle/photos.f32)
"""
import sys

import numpy as np
import torch
import torchvision


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    x = torch.from_numpy(np.fromfile(sys.argv[1], dtype=np.float32).reshape(-1, 3, 224, 224))
    torch.set_num_threads(2)
    for seed in range(seeds):
        torch.manual_seed(seed)
        m = torchvision.models.resnet50()
        m.train()
        with torch.no_grad():
            for _ in range(24):
                m(torch.rand(8, 3, 96, 96) * 250 - 120)
        m.eval()
        feats = {}
        m.avgpool.register_forward_hook(
            lambda mod, i, o: feats.__setitem__("pool5", o.flatten(1).float()))
        with torch.no_grad():
            a = torch.softmax(m(x), 1)
            pa = feats["pool5"].clone()
            with torch.autocast("cpu", dtype=torch.bfloat16):
                b = torch.softmax(m(x).float(), 1)
            pb = feats["pool5"].clone()
        cos = torch.nn.functional.cosine_similarity(pa, pb, dim=1)
        same = int((a.argmax(1) == b.argmax(1)).sum())
        top2 = a.sort(1, descending=True).values[:, :2]
        margin = top2[:, 0] - top2[:, 1]
        print(f"seed {seed}: worst pool5 cosine {float(cos.min()):.6f}, same top-1 on "
              f"{same} of {len(x)}, float32 top-1 prob median {float(top2[:, 0].median()):.5f}, "
              f"its margin over the second median {float(margin.median()):.2e}", flush=True)


if __name__ == "__main__":
    main()
