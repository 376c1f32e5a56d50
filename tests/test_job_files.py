#!/usr/bin/env python3
"""--job FILE.ini: every example in jobs/ runs (positional arguments and outputs given
on the command line, which override the file) and gives what the same options typed
on the command line give; command-line options override the file's; an unknown
section or key, a bad value, a bad line or a missing section is exit 2 naming the
file, the line and the key.

usage: test_job_files.py R50WORKER MODEL_TOOL JOBS_DIR
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import jobutil as J  # noqa: E402
from jobutil import check, h5py, run  # noqa: E402

BIN, TOOL, JOBS = sys.argv[1], sys.argv[2], sys.argv[3]


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


RUN_HERE = {"extract_pool5.ini", "extract_spatial.ini", "predict_10crop.ini",
            "finetune_list.ini"}


def test_examples(tmp, model):
    found = {f for f in os.listdir(JOBS) if f.endswith(".ini")}
    check(found == RUN_HERE, f"every job file in jobs/ is run here: {sorted(found)}")
    data = os.path.join(tmp, "tree")
    rows, bad = J.make_tree(data, n_photos=8)
    for rel in bad:
        os.remove(os.path.join(data, rel))
    fast = ["--model", model, "--threads", "1", "--size", "64"]
    # extract examples: the job file against the same options typed out
    for name, typed in (("extract_pool5", ["--layers", "pool5", "--batch", "16"]),
                        ("extract_spatial", ["--layers", "res4,res5", "--dtype", "float16",
                                             "--batch", "8"])):
        a, b = os.path.join(tmp, f"{name}_job.h5"), os.path.join(tmp, f"{name}_typed.h5")
        job = os.path.join(JOBS, f"{name}.ini")
        p = run(2, BIN, "extract", "--job", job, *fast, data, "-o", a)
        check(p.returncode == 0, f"{name}.ini runs: exit {p.returncode} {p.stderr[-300:]}")
        run(2, BIN, "extract", *typed, *fast, data, "-o", b)
        layers = tuple(typed[1].split(","))
        if p.returncode == 0:
            J.same_file(J.read(a, layers), J.read(b, layers), f"{name}.ini vs typed options",
                        layers)
    # predict with 10 crops
    job = os.path.join(JOBS, "predict_10crop.ini")
    p = run(1, BIN, "predict", "--job", job, "--model", model, "--threads", "1", data)
    q = run(1, BIN, "predict", "--oversample", "--top", "5", "--model", model, "--threads",
            "1", data)
    check(p.returncode == 0 and p.stdout == q.stdout and len(p.stdout.splitlines()) == 5 * 8,
          "predict_10crop.ini prints what --oversample --top 5 prints")
    # fine-tuning on a list file
    lst = J.make_list(tmp, "train.txt", [(os.path.join("tree", r), c) for r, c in rows.items()
                                         if r not in bad])
    out = os.path.join(tmp, "run")
    p = run(1, BIN, "finetune", "--job", os.path.join(JOBS, "finetune_list.ini"), lst,
            "--val", lst, "--model", model, "--size", "64", "--crop", "56", "--steps", "2",
            "--threads", "1", "--out", out)
    check(p.returncode == 0 and os.path.exists(os.path.join(out, "model.npz")),
          f"finetune_list.ini runs with the command line's lists: exit {p.returncode} "
          f"{p.stderr[-300:]}")
    # the command line overrides the file
    o = os.path.join(tmp, "override.h5")
    run(1, BIN, "extract", "--job", os.path.join(JOBS, "extract_pool5.ini"), "--layers", "res5",
        *fast, data, "-o", o)
    with h5py.File(o, "r") as f:
        check(list(f["features"].keys()) == ["res5"],
              f"--layers on the command line overrides the file: {list(f['features'])}")
    # positional arguments and outputs from the file itself
    jf = write(os.path.join(tmp, "full.ini"),
               f"# a comment\n[extract]\ndataset = {data}\noutput = {tmp}/from_file.h5\n"
               f"model = {model}\nthreads = 1\nsize = 64\nexif-rotate = false\n"
               "[finetune]\nbatch = 4\n")
    p = run(0, BIN, "extract", "--job", jf)
    check(p.returncode == 0 and os.path.exists(f"{tmp}/from_file.h5"),
          "dataset and output from the file; other sections skipped")
    # values in quotes, as INI files often have them (paths with spaces)
    os.symlink(data, os.path.join(tmp, "my photos"))
    jf = write(os.path.join(tmp, "quoted.ini"),
               f"[extract]\ndataset = \"{tmp}/my photos\"\noutput = '{tmp}/quoted out.h5'\n"
               f"model = \"{model}\"\nthreads = 1\nsize = 64\n")
    p = run(0, BIN, "extract", "--job", jf)
    check(p.returncode == 0 and os.path.exists(f"{tmp}/quoted out.h5"),
          f"quoted values are the text between the quotes: exit {p.returncode} "
          f"{p.stderr[-300:]}")


def test_errors(tmp):
    cases = [
        ("unknown_key.ini", "[extract]\nlayers = pool5\nbatchsize = 4\n",
         ":3: [extract] batchsize: unknown key"),
        ("bad_value.ini", "[extract]\n\nbatch = many\n",
         ":3: [extract] batch: want an integer in [1, 4096], not 'many'"),
        ("bad_choice.ini", "[extract]\ndtype = float64\n",
         ":2: [extract] dtype: bad value 'float64' (want float32|float16)"),
        ("bad_flag.ini", "[extract]\nresume = maybe\n", ":2: [extract] resume: a flag wants"),
        ("hash_comment.ini", "[extract]\nbatch = 4 # four\n",
         ":2: [extract] batch: want an integer in [1, 4096], not '4 # four' (a comment after "
         "a value starts with ' ;', not '#')"),
        ("unknown_section.ini", "[extrakt]\nbatch = 4\n", ":2: unknown section [extrakt]"),
        ("bad_line.ini", "[extract]\nthis is not ini\n", ":2: not an INI line"),
        ("no_section.ini", "[predict]\ntop = 3\n", " has no [extract] section"),
    ]
    for name, text, want in cases:
        path = write(os.path.join(tmp, name), text)
        p = run(0, BIN, "extract", "--job", path, "x/", "-o", os.path.join(tmp, "x.h5"))
        check(p.returncode == 2 and path + want in p.stderr,
              f"{name}: exit 2 and '{path + want}' (got {p.returncode}: {p.stderr.strip()})")
    p = run(0, BIN, "extract", "--job", os.path.join(tmp, "absent.ini"), "x/", "-o", "x.h5")
    check(p.returncode == 2 and "absent.ini: cannot open" in p.stderr,
          "a missing job file: exit 2 naming it")


def main():
    tmp = tempfile.mkdtemp(prefix="r50-jobs-")
    model = os.path.join(tmp, "m.npz")
    subprocess.run([TOOL, "init", "3", model], check=True)
    test_examples(tmp, model)
    test_errors(tmp)
    rc = J.finish("test_job_files")
    if rc == 0:
        shutil.rmtree(tmp)
    return rc


if __name__ == "__main__":
    sys.exit(main())
