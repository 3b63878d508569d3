#!/usr/bin/env bash
# Checkpoints and run folders written before the structure change still load and continue
# bit-identically (tests/data/checkpoints-before-structure/README.md).
#   DPVAE=path/to/dpvae checkpoint_compat_test.sh WORK_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$1
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
fail=0
for run in moons-beta-b-decoupled moons-info-standard; do
  cp -r "$here/data/checkpoints-before-structure/$run" .
  expected="$run/expected-step-00000030.safetensors"
  if ! "$DPVAE" train --resume --out "$run" >"$run.log" 2>&1; then
    echo "FAIL $run: resume failed: $(tail -1 "$run.log")"; fail=1; continue
  fi
  if python3 "$here/checkpoint_tensors_equal.py" "$expected" "$run/checkpoints/step-00000030.safetensors"; then
    echo "ok   $run: resumed from an old checkpoint, step 30 bit-identical"
  else
    echo "FAIL $run: step 30 differs from the old program's"; fail=1
  fi
done
# A changed setting recorded in a new checkpoint is refused, naming it: load the β-VAE-B
# run's new step-30 checkpoint into a run whose config asks for another capacity schedule.
cp -r moons-beta-b-decoupled changed
python3 - changed/config.json <<'PY'
import json, sys
p = sys.argv[1]; c = json.load(open(p)); c["capacity_steps"] = 5000.0; c["steps"] = 40
json.dump(c, open(p, "w"))
PY
rm -f changed/checkpoints/step-00000020.safetensors
if "$DPVAE" train --resume --out changed >changed.log 2>&1; then
  echo "FAIL a changed capacity schedule was accepted"; fail=1
elif grep -q "objective.capacity_steps" changed.log && [ "$(wc -l <changed.log)" -eq 1 ]; then
  echo "ok   a changed capacity schedule is refused: $(cat changed.log)"
else
  echo "FAIL unexpected refusal: $(cat changed.log)"; fail=1
fi
exit $fail
