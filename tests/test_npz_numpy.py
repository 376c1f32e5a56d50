#!/usr/bin/python3
"""test_npz_numpy.py — numpy as the oracle of the npz module, through npz_tool.

Archives numpy writes (np.savez: stored, np.savez_compressed: deflated, .npy versions
1.0 to 3.0, big-endian data, Python 2 'L' shapes, more than 65535 members) must read
back with numpy's keys, descrs, shapes and data; what our writer writes must load in
numpy unchanged, hold stored members whose .npy bytes equal numpy's own, and be the
same bytes whatever archive it was copied from. Damaged deflated archives must fail
with a message naming the file, or read exactly as the original.

Usage: test_npz_numpy.py NPZ_TOOL   (R50_NPZ_BIG=1 adds a 2.2 GB ZIP64 round trip)
"""
import os
import subprocess
import sys
import tempfile
import zipfile
import zlib

import numpy as np

TOOL = None


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def make_arrays():
    rng = np.random.default_rng(0)
    return {
        "conv1/W": rng.standard_normal((64, 3, 7, 7), dtype=np.float32),
        "conv1/b": rng.standard_normal(64, dtype=np.float32),
        "fc6/b": rng.standard_normal(1000, dtype=np.float32),
        "bn1/N": np.array(7, dtype=np.int64),
        "scalar": np.array(1.5, dtype=np.float32),
        "special": np.array([np.nan, -0.0, np.inf, -np.inf, 1e-45, -1e-40], np.float32),
        "f64": rng.standard_normal((10, 20)),
        "smooth": np.arange(750_000, dtype=np.float32) % 100,  # 3 MB, deflates well
        "noise": rng.standard_normal(750_000, dtype=np.float32),  # 3 MB, hardly at all
        "f16": rng.standard_normal(33).astype(np.float16),
        "i32": rng.integers(-(2**31), 2**31, 17, dtype=np.int32),
        "u8": rng.integers(0, 256, (3, 5), dtype=np.uint8),
        "i8": rng.integers(-128, 128, 9, dtype=np.int8),
        "bool": rng.integers(0, 2, 12).astype(bool),
        "empty": np.zeros((0, 5), np.float32),
        "be/f4": rng.standard_normal((4, 6)).astype(">f4"),
        "be/i8": rng.integers(-(2**62), 2**62, 5).astype(">i8"),
    }


def little(a):
    """a with little-endian data, as npz_read returns it."""
    return a.astype(a.dtype.newbyteorder("<"))


def row(key, a):
    crc = zlib.crc32(little(a).tobytes())
    return (key, a.dtype.str, ",".join(map(str, a.shape)), "%08x" % crc)


def numpy_rows(path):
    with np.load(path) as z:
        return [row(key, z[key]) for key in z.files]


def run_tool(*args):
    p = subprocess.run([TOOL, *args], capture_output=True)
    err = p.stderr.decode(errors="replace")
    check("Sanitizer" not in err and "runtime error" not in err, "sanitizer report:\n" + err)
    check(p.returncode in (0, 3), "npz_tool %s exited with %d:\n%s" % (args[0], p.returncode, err))
    return p.returncode, p.stdout.decode(errors="surrogateescape"), err


def dump(*paths):
    """{path: (rows, error line or None)} from npz_tool dump."""
    rc, out, _ = run_tool("dump", *paths)
    sections, current = {}, None
    for line in out.splitlines():
        if line.startswith("#file "):
            current = line[len("#file "):]
            sections[current] = ([], None)
        elif line.startswith("#error "):
            sections[current] = (sections[current][0], line[len("#error "):])
        else:
            sections[current][0].append(tuple(line.split("\t")))
    check(sorted(sections) == sorted(paths), "npz_tool dump skipped files")
    check((rc == 3) == any(e for _, e in sections.values()), "dump exit status")
    return sections


def dump_ok(path):
    rows, error = dump(path)[path]
    check(error is None, "npz_tool dump %s: %s" % (path, error))
    return rows


def copy(src, dst):
    rc, _, err = run_tool("copy", src, dst)
    check(rc == 0, "npz_tool copy %s: %s" % (src, err))


def test_read_numpy(d):
    """savez and savez_compressed archives read as numpy reads them."""
    arrays = make_arrays()
    for save, method in ((np.savez, zipfile.ZIP_STORED),
                         (np.savez_compressed, zipfile.ZIP_DEFLATED)):
        path = os.path.join(d, save.__name__ + ".npz")
        save(path, **arrays)
        with zipfile.ZipFile(path) as z:
            check(all(i.compress_type == method for i in z.infolist()), "unexpected method")
        check(dump_ok(path) == numpy_rows(path), "%s: listing differs from numpy's" % path)


def test_write_numpy(d):
    """Our copies load in numpy, are stored, carry numpy's .npy bytes, and are identical."""
    arrays = make_arrays()
    stored, compressed = (os.path.join(d, n) for n in ("savez.npz", "savez_compressed.npz"))
    copies = [os.path.join(d, n) for n in ("copy_stored.npz", "copy_compressed.npz")]
    copy(stored, copies[0])
    copy(compressed, copies[1])
    with open(copies[0], "rb") as f0, open(copies[1], "rb") as f1:
        check(f0.read() == f1.read(), "copies of the same arrays differ")
    with np.load(copies[0]) as z:
        check(z.files == list(arrays), "keys or their order changed")
        for key, a in arrays.items():
            b = z[key]
            check(b.dtype == little(a).dtype and b.shape == a.shape, key + ": dtype or shape")
            check(b.tobytes() == little(a).tobytes(), key + ": data differs")
    with zipfile.ZipFile(copies[0]) as ours, zipfile.ZipFile(stored) as theirs:
        check(ours.testzip() is None, "a member's CRC is wrong")
        check(all(i.compress_type == zipfile.ZIP_STORED for i in ours.infolist()),
              "members are not stored")
        for key, a in arrays.items():
            if a.dtype.byteorder != ">":
                name = key + ".npy"
                check(ours.read(name) == theirs.read(name), name + ": .npy bytes differ")


def npy_bytes(header, data, version=(1, 0)):
    """An .npy file with a hand-written header text, padded as numpy pads."""
    size = 2 if version == (1, 0) else 4
    text = header.encode("latin1")
    pad = 64 - (6 + 2 + size + len(text) + 1) % 64
    text += b" " * pad + b"\n"
    return (b"\x93NUMPY" + bytes(version) + len(text).to_bytes(size, "little") + text
            + data)


def test_headers(d):
    """.npy versions 2.0 and 3.0, Python 2 shapes; unsupported arrays fail cleanly."""
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    path = os.path.join(d, "versions.npz")
    with zipfile.ZipFile(path, "w") as z:
        for v in ((1, 0), (2, 0), (3, 0)):
            with z.open("v%d.npy" % v[0], "w") as f:
                np.lib.format.write_array(f, a, version=v)
        z.writestr("py2.npy", npy_bytes(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 4L), }", a.tobytes()))
    expect = [row(k, a) for k in ("v1", "v2", "v3", "py2")]
    check(dump_ok(path) == expect, "npy versions 1.0-3.0 or 'L' shapes misread")
    cases = {
        "fortran": (np.asfortranarray(a), "Fortran"),
        "complex": (np.ones(3, np.complex64), "not supported"),
        "record": (np.zeros(2, [("x", "<f4"), ("y", "<i4")]), "not supported"),
    }
    for name, (arr, cause) in cases.items():
        path = os.path.join(d, name + ".npz")
        np.savez(path, x=arr)
        rows, error = dump(path)[path]
        check(error and error.startswith("R50_ERR_UNSUPPORTED") and cause in error
              and path in error, "%s: expected an unsupported error, got %s" % (name, error))


def test_many_members(d):
    """More than 65535 members: numpy's ZIP64 end records, then ours."""
    arrays = {"m%05d" % k: np.array(k, dtype=np.int32) for k in range(65_600)}
    path, ours = os.path.join(d, "many.npz"), os.path.join(d, "many_copy.npz")
    np.savez(path, **arrays)
    expect = [row(k, a) for k, a in arrays.items()]
    check(dump_ok(path) == expect, "many members: listing differs")
    copy(path, ours)
    with np.load(ours) as z:
        check(z.files == list(arrays), "many members: keys differ")
        for k in ("m00000", "m65535", "m65599"):
            check(z[k] == arrays[k] and z[k].shape == (), k + " differs")


def test_damaged(d):
    """Truncated or byte-flipped deflated archives fail cleanly or read as the original."""
    rng = np.random.default_rng(1)
    arrays = {"a": np.arange(3000, dtype=np.float32) % 7,
              "b/W": rng.standard_normal((4, 5)).astype(np.float32),
              "n": np.array(5, np.int64)}
    path = os.path.join(d, "small.npz")
    np.savez_compressed(path, **arrays)
    good = dump_ok(path)
    with open(path, "rb") as f:
        data = f.read()
    fuzz = os.path.join(d, "fuzz")
    os.mkdir(fuzz)
    variants = {}
    for n in range(len(data)):
        variants["t%05d.npz" % n] = (data[:n], True)
    for at in range(len(data)):
        for mask in (0x01, 0x80):
            flipped = bytearray(data)
            flipped[at] ^= mask
            variants["f%05d_%02x.npz" % (at, mask)] = (bytes(flipped), False)
    paths = []
    for name, (content, _) in variants.items():
        paths.append(os.path.join(fuzz, name))
        with open(paths[-1], "wb") as f:
            f.write(content)
    sections = dump(*paths)
    benign = 0
    for p in paths:
        rows, error = sections[p]
        must_fail = variants[os.path.basename(p)][1]
        if error is None:
            check(not must_fail, p + ": truncated archive read without error")
            check(rows == good, p + ": read without error but differs")
            benign += 1
        else:
            check(p in error, p + ": message does not name the file: " + error)
    print("test_npz_numpy: %d damaged archives: %d failed cleanly, %d flips were harmless"
          % (len(paths), len(paths) - benign, benign))


def test_big(d):
    """A 2.2 GB member and one past 2 GiB: ZIP64 sizes and offsets, both ways."""
    arrays = {"big": np.resize(np.arange(251, dtype=np.uint8), 2_200_000_000),
              "after": np.arange(10, dtype=np.float32)}
    path, ours = os.path.join(d, "big.npz"), os.path.join(d, "big_copy.npz")
    np.savez(path, **arrays)
    check(dump_ok(path) == [row(k, a) for k, a in arrays.items()], "big: listing differs")
    copy(path, ours)
    with zipfile.ZipFile(ours) as z:
        check(z.testzip() is None, "big: CRC")
        check(all(i.extra[:2] == b"\x01\x00" for i in z.infolist()),
              "big: our directory lacks ZIP64 extra fields")
    with np.load(ours) as z:
        for k, a in arrays.items():
            check(np.array_equal(z[k], a), "big: " + k + " differs")


def main():
    global TOOL
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    TOOL = sys.argv[1]
    tests = [test_read_numpy, test_write_numpy, test_headers, test_many_members,
             test_damaged]
    if os.environ.get("R50_NPZ_BIG") == "1":
        tests.append(test_big)
    with tempfile.TemporaryDirectory(prefix="test_npz_numpy.") as d:
        for t in tests:
            try:
                t(d)
            except Failure as e:
                print("test_npz_numpy: FAIL in %s: %s" % (t.__name__, e), file=sys.stderr)
                return 1
            print("test_npz_numpy: %s passed" % t.__name__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
