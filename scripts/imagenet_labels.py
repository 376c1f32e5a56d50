#!/usr/bin/env python3
"""Writes the 1000 ImageNet class names for `r50worker predict --labels`, one
"INDEX NAME" line each (0 tench ... 999 toilet tissue), in the order of the MSRA
ResNet's fc1000 outputs (the sorted WordNet ids of ILSVRC-2012, Caffe's
synset_words.txt order), from the list Debian's python3-torchvision ships.

usage: scripts/imagenet_labels.py [OUT.txt]    (default: standard output)

  scripts/imagenet_labels.py imagenet.txt
  r50worker predict --top 5 --labels imagenet.txt photos/
"""
import sys


def names():
    try:
        from torchvision.models import ResNet50_Weights
    except ImportError:
        sys.exit("imagenet_labels.py: needs torchvision 0.13 or later "
                 "(apt-get install python3-torchvision; run it with /usr/bin/python3)")
    return ResNet50_Weights.IMAGENET1K_V1.meta["categories"]


def main():
    if len(sys.argv) > 2 or (len(sys.argv) == 2 and sys.argv[1] in ("-h", "--help")):
        print(__doc__.strip())
        return 0 if len(sys.argv) == 2 else 2
    classes = names()
    if len(classes) != 1000:
        sys.exit(f"imagenet_labels.py: torchvision lists {len(classes)} classes, not 1000")
    text = "".join(f"{i} {name}\n" for i, name in enumerate(classes))
    if len(sys.argv) == 2:
        with open(sys.argv[1], "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
