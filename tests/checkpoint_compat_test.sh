#!/usr/bin/env bash
# Checkpoints and run folders written before the structure change still load and continue
# bit-identically (tests/data/checkpoints-before-structure/README.md).
#   DPVAE=path/to/dpvae checkpoint_compat_test.sh WORK_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$1
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
fail=0
# Bit-identity needs the same arithmetic as the build that wrote the fixtures (Release,
# -march=native on an AVX-512 machine). This build trains the same run from scratch first: if
# its step 20 equals the fixture's bit for bit, the arithmetic is the same and the resumed
# step 30 must equal the old program's bit for bit; otherwise (another instruction set, a
# sanitizer build) it must agree to float rounding, and the test says which it checked.
equal=$here/checkpoint_tensors_equal.py
for run in moons-beta-b-decoupled moons-info-standard; do
  cp -r "$here/data/checkpoints-before-structure/$run" .
  expected="$run/expected-step-00000030.safetensors"
  read -r objective prior <<<"$(python3 -c "import json,sys; c=json.load(open(sys.argv[1])); print(c['objective'], c['prior'])" "$run/config.json")"
  "$DPVAE" train --dataset two-moons --objective "$objective" --prior "$prior" --steps 30 --batch-size 32 \
      --checkpoint-every 10 --keep-checkpoints 3 --seed 5 --threads 1 --out "fresh-$run" >"fresh-$run.log" 2>&1 ||
    { echo "FAIL $run: fresh run failed: $(tail -1 "fresh-$run.log")"; fail=1; continue; }
  if ! "$DPVAE" train --resume --out "$run" >"$run.log" 2>&1; then
    echo "FAIL $run: resume failed: $(tail -1 "$run.log")"; fail=1; continue
  fi
  if python3 "$equal" "$run/checkpoints/step-00000020.safetensors" "fresh-$run/checkpoints/step-00000020.safetensors" >/dev/null; then
    how="bit-identical (this build reproduces the old program's arithmetic)"
    check=(python3 "$equal" "$expected" "$run/checkpoints/step-00000030.safetensors")
  else
    how="equal to 1e-4 relative and the RNG exactly (this build's arithmetic differs from the fixture's)"
    check=(python3 "$equal" --rtol 1e-4 "$expected" "$run/checkpoints/step-00000030.safetensors")
  fi
  if "${check[@]}" >/dev/null; then
    echo "ok   $run: resumed from the old program's step 20; step 30 $how"
  else
    echo "FAIL $run: step 30 differs from the old program's: $("${check[@]}")"; fail=1
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
