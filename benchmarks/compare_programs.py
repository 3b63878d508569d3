#!/usr/bin/env python3
"""compare_programs.py OLD_DPVAE NEW_DPVAE --data-root DIR --out FILE.json [--steps N] [--repeats R]

Speed of two builds of the dpvae program measured side by side on MNIST: for each objective
and prior, runs of OLD and NEW alternate (ABBA order per repeat, so drift in the machine's
load falls on both), each training N steps from the same seed; the figure is the program's
own "s per 1,000 steps" line. Reports per build the median steps/s, the NEW/OLD ratio, and
the paired decoupled/standard step-time ratio of each build (the decoupled prior's cost).
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time


def run(dpvae, objective, prior, steps, data_root, work):
    out = os.path.join(work, f"{os.path.basename(os.path.dirname(os.path.dirname(dpvae)))}-{objective}-{prior}")
    shutil.rmtree(out, ignore_errors=True)
    p = subprocess.run([dpvae, "train", "--dataset", "mnist", "--data-root", data_root, "--objective", objective,
                        "--prior", prior, "--steps", str(steps), "--batch-size", "100", "--seed", "1",
                        "--checkpoint-every", str(steps), "--log-every", str(steps), "--sample-every", str(steps),
                        "--out", out], capture_output=True, text=True, check=True)
    m = re.search(r"\(([0-9.]+) s per 1,000 steps\)", p.stdout + p.stderr)
    shutil.rmtree(out, ignore_errors=True)
    return 1000.0 / float(m.group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--data-root", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--objectives", default="vae,beta-tc,factor")
    a = ap.parse_args()
    work = tempfile.mkdtemp()
    rows = []
    for objective in a.objectives.split(","):
        sps = {("old", p): [] for p in ("standard", "decoupled")}
        sps.update({("new", p): [] for p in ("standard", "decoupled")})
        for r in range(a.repeats):
            order = ["old", "new", "new", "old"] if r % 2 == 0 else ["new", "old", "old", "new"]
            for build in order[:2]:
                for prior in ("standard", "decoupled"):
                    sps[(build, prior)].append(run(getattr(a, build), objective, prior, a.steps, a.data_root, work))
        row = {"objective": objective}
        for build in ("old", "new"):
            for prior in ("standard", "decoupled"):
                row[f"{build}_{prior}_steps_per_s"] = statistics.median(sps[(build, prior)])
            # Paired: the ratio of step times within each repeat, then the median.
            row[f"{build}_decoupled_over_standard"] = statistics.median(
                s / d for s, d in zip(sps[(build, "standard")], sps[(build, "decoupled")]))
        for prior in ("standard", "decoupled"):
            row[f"new_over_old_{prior}"] = row[f"new_{prior}_steps_per_s"] / row[f"old_{prior}_steps_per_s"]
        row["samples"] = {f"{b}_{p}": v for (b, p), v in sps.items()}
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "samples"}))
    with open(a.out, "w") as f:
        json.dump({"steps": a.steps, "repeats": a.repeats, "old": a.old, "new": a.new,
                   "load_at_end": os.getloadavg(), "time": time.strftime("%Y-%m-%d %H:%M:%S"), "rows": rows}, f, indent=1)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
