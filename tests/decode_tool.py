"""decode_tool.py — image_tool's `decode` for the format tests (test_heif.py,
test_jxl.py): the RGB arrays of the files that decoded, the messages of those that
did not."""
import os
import subprocess

import numpy as np


def check_damaged(tool, folder, bad, check):
    """Writes each (name, bytes, cause) of bad into folder and decodes them: each must
    fail with a message that starts with its path and the cause."""
    paths = []
    for name, blob, _ in bad:
        paths.append(os.path.join(folder, name))
        with open(paths[-1], "wb") as f:
            f.write(blob)
    _, fails = decode(tool, *paths)
    for i, (name, _, cause) in enumerate(bad):
        msg = fails.get(i, "")
        check(msg.startswith(f"{paths[i]}: {cause}"),
              f"{name}: fails naming the file and '{cause}': {msg!r}")


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
