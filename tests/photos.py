"""Real photos for tests, from Debian packages (python3-skimage's data folder,
python3-sklearn's sample images), plus broken files, laid out as a dataset folder."""
import glob
import os
import shutil

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
