"""decode_tool.py — image_tool's `decode` for the format tests (test_heif.py,
test_jxl.py): the RGB arrays of the files that decoded, the messages of those that
did not."""
import os
import subprocess

import numpy as np


def decode(tool, *files, opts=()):
    """{index: RGB array}, {index: failure message} from `tool OPTS decode OUT FILES`."""
    out = os.path.join(os.path.dirname(files[0]), "decoded.npz")
    p = subprocess.run([tool, *opts, "decode", out, *files], capture_output=True, text=True)
    fails = {}
    for line in p.stdout.splitlines():
        if line.startswith("FAIL\t"):
            _, i, msg = line.split("\t", 2)
            fails[int(i)] = msg
    got = {}
    if os.path.exists(out):
        with np.load(out) as z:
            got = {int(k): z[k] for k in z.files}
        os.remove(out)
    return got, fails
