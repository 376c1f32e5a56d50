"""Real photos for tests, from Debian packages (python3-skimage's data folder,
python3-sklearn's sample images), plus broken files, laid out as a dataset folder.

As a script, for the bench/ scripts: `photos.py link DEST COPIES` fills the new folder
DEST with COPIES symbolic links to each whole photo and prints how many it made; for
the CUDA engine's check: `photos.py f32 IMAGE_TOOL OUT` writes every whole photo
prepared at 224x224 (Chainer's prepare, by tests/image_tool) to OUT as raw float32
NCHW, and prints how many."""
import glob
import os
import shutil
import subprocess
import sys
import tempfile

SOURCES = ["/usr/lib/python3/dist-packages/skimage/data",
           "/usr/lib/python3/dist-packages/sklearn/datasets/images"]


def real_photos():
    """Sorted paths of every JPEG/PNG image the packages ship."""
    found = []
    for d in SOURCES:
        for ext in ("*.jpg", "*.png"):
            found += glob.glob(os.path.join(d, ext))
    if not found:
        raise SystemExit("no photos found: install python3-skimage and python3-sklearn")
    return sorted(found)


def good_photos():
    """real_photos() less skimage's truncated.jpg, a deliberately broken file."""
    return [p for p in real_photos() if os.path.basename(p) != "truncated.jpg"]


def link_copies(dest, copies):
    """Makes the folder dest with `copies` links to each of good_photos() (named
    copy_index_name, so that they sort by copy); returns how many."""
    os.makedirs(dest)
    n = 0
    for c in range(copies):
        for i, p in enumerate(good_photos()):
            os.symlink(p, os.path.join(dest, f"{c}_{i:03d}_{os.path.basename(p)}"))
            n += 1
    return n


def prepared_f32(image_tool, out):
    """Writes good_photos() prepared at 224x224 by image_tool to out (float32 NCHW, one
    image after another); returns how many."""
    import numpy as np
    files = good_photos()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([image_tool, "prepare", "224", "224", f"{tmp}/p.npz"] + files,
                       check=True, stdout=subprocess.DEVNULL)
        z = np.load(f"{tmp}/p.npz")
        x = np.stack([z[str(i)] for i in range(len(files))]).astype(np.float32)
    x.tofile(out)
    return len(files)


def make_dataset(dest, n_photos=40, broken=True):
    """Copies up to n_photos photos into dest/ and adds broken files; returns the
    relative names of the broken ones."""
    os.makedirs(dest, exist_ok=True)
    for i, src in enumerate(real_photos()[:n_photos]):
        shutil.copy(src, os.path.join(dest, f"{i:03d}_{os.path.basename(src)}"))
    bad = []
    if broken:
        photo = real_photos()[0]
        with open(os.path.join(dest, "zz_empty.jpg"), "wb"):
            pass
        with open(photo, "rb") as f:
            data = f.read()
        with open(os.path.join(dest, "zz_truncated.png"), "wb") as f:
            f.write(data[: len(data) // 3])
        with open(os.path.join(dest, "zz_text.jpg"), "w") as f:
            f.write("this is not an image\n")
        bad = ["zz_empty.jpg", "zz_text.jpg", "zz_truncated.png"]
    return bad


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "link":
        print(link_copies(sys.argv[2], int(sys.argv[3])))
    elif len(sys.argv) == 4 and sys.argv[1] == "f32":
        print(prepared_f32(sys.argv[2], sys.argv[3]))
    else:
        raise SystemExit("usage: photos.py link DEST COPIES | photos.py f32 IMAGE_TOOL OUT")
