#!/usr/bin/env python3
"""How far each run's training loss had settled: scripts/convergence.py RUN_FOLDER...

For each run folder (its metrics.csv, one row per step), the mean training loss and KL over
each fifth of the run, and the relative change of the loss between the last two fifths,
(L5 - L4) / |L4|: a run whose loss still falls by several per cent over its last fifth has
not converged. Prints a Markdown table; standard library only.
"""
import csv
import os
import sys


def fifths(values):
    n = len(values)
    return [sum(values[i * n // 5:(i + 1) * n // 5]) / max(1, (i + 1) * n // 5 - i * n // 5) for i in range(5)]


def main(runs):
    if not runs:
        sys.exit("usage: convergence.py RUN_FOLDER...")
    print("| run | steps | loss by fifths of the run | KL by fifths (nats) | loss change, last fifth |")
    print("|---|---:|---|---|---:|")
    for run in runs:
        path = os.path.join(run, "metrics.csv")
        try:
            with open(path, newline="") as f:
                rows = list(csv.DictReader(f))
        except OSError as e:
            sys.exit(f"convergence.py: {path}: {e.strerror}")
        if len(rows) < 10 or "loss" not in rows[0]:
            sys.exit(f"convergence.py: {path}: fewer than 10 steps or no loss column")
        loss = fifths([float(r["loss"]) for r in rows])
        kl = fifths([float(r["kl"]) for r in rows]) if "kl" in rows[0] else None
        name = os.path.basename(os.path.normpath(run))
        change = (loss[4] - loss[3]) / abs(loss[3])
        print(f"| {name} | {len(rows)} | {' → '.join(f'{v:.2f}' for v in loss)} | "
              f"{' → '.join(f'{v:.2f}' for v in kl) if kl else '–'} | {100 * change:+.2f} % |")


if __name__ == "__main__":
    main(sys.argv[1:])
