#!/usr/bin/env bash
# Reliability tests of the dpvae program: runs killed with SIGKILL and resumed end
# bit-identical to uninterrupted ones; a checkpoint write cut off mid-file leaves the previous
# checkpoint in use; --keep-checkpoints; non-finite steps stop the run (step and term named)
# or, with --skip-nonfinite, are skipped and counted.
# Usage: DPVAE=path/to/dpvae tests/reliability_test.sh WORKDIR
set -u
work=${1:?usage: reliability_test.sh WORKDIR}
rm -rf "$work" && mkdir -p "$work"
cd "$work" || exit 1
fails=0
pass() { echo "ok   - $1"; }
bad() { echo "FAIL - $1"; fails=$((fails + 1)); }

# same_tensors A B: every tensor of two safetensors files byte for byte, and the step metadata.
same_tensors() {
  python3 - "$1" "$2" <<'PY'
import json, struct, sys
def read(p):
    b = open(p, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8+n])
    meta = h.pop('__metadata__', {})
    return {k: b[8+n+v['data_offsets'][0]:8+n+v['data_offsets'][1]] for k, v in h.items()}, meta
(a, ma), (b, mb) = read(sys.argv[1]), read(sys.argv[2])
keys = ['step', 'optimizer.step', 'discriminator_optimizer.step', 'data.position', 'run.skipped_steps']
if a.keys() != b.keys() or len(a) < 10:
    sys.exit('tensor names differ')
diff = [k for k in a if a[k] != b[k]]
if diff:
    sys.exit('tensors differ: ' + ', '.join(diff[:5]))
if any(ma.get(k) != mb.get(k) for k in keys):
    sys.exit('metadata differs')
PY
}

# newest_step RUN: the step number of the newest checkpoint (0 when none).
newest_step() {
  local f
  f=$(ls "$1"/checkpoints/step-*.safetensors 2>/dev/null | sort | tail -1)
  [ -z "$f" ] && { echo 0; return; }
  f=${f##*/step-}
  echo $((10#${f%.safetensors}))
}

# killed_run NAME STEPS KILLS ARGS...: trains into NAME, SIGKILLs the process KILLS times,
# each time once a checkpoint newer than the last one exists, resuming in between, then
# resumes to the end. Sets killed_at to the steps at which it was killed.
killed_run() {
  local name=$1 steps=$2 kills=$3
  shift 3
  killed_at=""
  local cmd=("$@" --steps "$steps" --out "$name")
  local k last=0
  for ((k = 0; k < kills; k++)); do
    "${cmd[@]}" >>"$name.log" 2>&1 &
    local pid=$! waited=0
    cmd=("$DPVAE" train --resume --out "$name")
    while [ "$(newest_step "$name")" -le "$last" ] && [ $waited -lt 1200 ] && kill -0 $pid 2>/dev/null; do
      sleep 0.05
      waited=$((waited + 1))
    done
    kill -KILL $pid 2>/dev/null
    wait $pid 2>/dev/null
    local rc=$?
    last=$(newest_step "$name")
    [ "$rc" -eq 137 ] || { echo "run $name was not killed (status $rc)"; return 1; }
    killed_at="$killed_at $last"
  done
  "${cmd[@]}" >>"$name.log" 2>&1
}

T="$DPVAE train --dataset two-moons --log-every 1000 --threads 1 --sample-every 1000"

# --- kill and resume: FactorVAE with the decoupled prior (discriminator and both Adams) -----
$T --objective factor --prior decoupled --steps 40 --batch-size 8 --checkpoint-every 10 --out f_ref >f_ref.log 2>&1 ||
  bad "uninterrupted FactorVAE run: $(tail -2 f_ref.log)"
if killed_run f_kill 40 2 $T --objective factor --prior decoupled --batch-size 8 --checkpoint-every 10; then
  if msg=$(same_tensors f_ref/checkpoints/step-00000040.safetensors f_kill/checkpoints/step-00000040.safetensors 2>&1); then
    pass "FactorVAE + decoupled prior, SIGKILLed after steps${killed_at} and resumed: bit-identical"
  else
    bad "FactorVAE killed and resumed differs: $msg"
  fi
else
  bad "FactorVAE kill/resume: $(tail -3 f_kill.log)"
fi

# --- β-VAE-B (capacity schedule on the step) and InfoVAE (prior samples from the model RNG) --
for obj in beta-b info; do
  $T --objective $obj --prior decoupled --steps 80 --batch-size 32 --checkpoint-every 10 --out ${obj}_ref >${obj}_ref.log 2>&1 ||
    bad "uninterrupted $obj run: $(tail -2 ${obj}_ref.log)"
  if killed_run ${obj}_kill 80 1 $T --objective $obj --prior decoupled --batch-size 32 --checkpoint-every 10; then
    if msg=$(same_tensors ${obj}_ref/checkpoints/step-00000080.safetensors ${obj}_kill/checkpoints/step-00000080.safetensors 2>&1); then
      pass "$obj + decoupled prior, SIGKILLed after step${killed_at} and resumed: bit-identical"
    else
      bad "$obj killed and resumed differs: $msg"
    fi
  else
    bad "$obj kill/resume: $(tail -3 ${obj}_kill.log)"
  fi
done
# metrics.csv of a killed run: one row per step, no duplicates
rows=$(tail -n +2 f_kill/metrics.csv | cut -d, -f1 | sort -n | uniq | wc -l)
[ "$rows" -eq 40 ] && [ "$(tail -n +2 f_kill/metrics.csv | wc -l)" -eq 40 ] &&
  pass "metrics.csv of the killed run has each of the 40 steps once" || bad "metrics.csv of the killed run: $rows distinct steps"

# --- a checkpoint write cut off mid-file -----------------------------------------------------
# With atomic writes a kill mid-write leaves NAME.tmpPID beside the old files; a writer
# without them (or a damaged disk) leaves a truncated newest checkpoint. Both: resume must
# use the previous checkpoint and still end bit-identical.
$T --objective beta-h --prior decoupled --steps 40 --batch-size 32 --checkpoint-every 10 --out h_ref >h_ref.log 2>&1
$T --objective beta-h --prior decoupled --steps 30 --batch-size 32 --checkpoint-every 10 --out h_cut >h_cut.log 2>&1
good=h_cut/checkpoints/step-00000030.safetensors
size=$(stat -c %s $good)
head -c $((size / 2)) $good >h_cut/checkpoints/step-00000040.safetensors.tmp4242
head -c $((size / 2)) $good >h_cut/checkpoints/step-00000040.safetensors   # cut off mid-file
head -c 7 h_cut/metrics.csv >h_cut/metrics.csv.tmp4242
if $DPVAE train --resume --steps 40 --out h_cut >h_cut.resume.log 2>&1 &&
   grep -q "skipped an unusable checkpoint" h_cut.resume.log && grep -q "from step-00000030" h_cut.resume.log; then
  pass "resume skips a checkpoint cut off mid-file and uses the previous one"
else
  bad "resume after a cut-off checkpoint: $(tail -3 h_cut.resume.log)"
fi
[ ! -e h_cut/checkpoints/step-00000040.safetensors.tmp4242 ] && [ ! -e h_cut/metrics.csv.tmp4242 ] &&
  grep -q "removed 2 temporary" h_cut.resume.log && pass "resume removes the temporaries of cut-off writes" ||
  bad "temporaries of cut-off writes left behind"
msg=$(same_tensors h_ref/checkpoints/step-00000040.safetensors h_cut/checkpoints/step-00000040.safetensors 2>&1) &&
  pass "the run resumed past a cut-off checkpoint is bit-identical" || bad "after a cut-off checkpoint: $msg"

# --- --keep-checkpoints ----------------------------------------------------------------------
n=$(ls h_ref/checkpoints/*.safetensors | wc -l)
[ "$n" -eq 2 ] && pass "default keeps the last 2 checkpoints" || bad "default kept $n checkpoints"
$T --objective vae --prior standard --steps 50 --batch-size 32 --checkpoint-every 10 --keep-checkpoints 3 --out keep3 >keep3.log 2>&1
ls keep3/checkpoints/ | tr '\n' ' ' >keep3.ls
[ "$(ls keep3/checkpoints/*.safetensors | wc -l)" -eq 3 ] && [ -e keep3/checkpoints/step-00000030.safetensors ] &&
  grep -q '"keep_checkpoints": 3' keep3/config.json && pass "--keep-checkpoints 3 keeps $(cat keep3.ls)and is in config.json" ||
  bad "--keep-checkpoints 3: $(cat keep3.ls)"

# --- non-finite steps --------------------------------------------------------------------------
# A NaN injected into the batches of steps 13 and 17 (test hook DPVAE_FAULT_NAN_STEPS).
DPVAE_FAULT_NAN_STEPS=13,17 $T --objective beta-tc --prior decoupled --steps 30 --batch-size 16 --checkpoint-every 10 \
  --out nan_stop >nan_stop.out 2>nan_stop.err
rc=$?
if [ $rc -eq 2 ] && [ "$(wc -l <nan_stop.err)" -eq 1 ] && grep -q "step 13: the loss term 'recon' is not finite" nan_stop.err &&
   grep -q "last good checkpoint is .*step-00000010" nan_stop.err; then
  pass "a NaN in a batch stops the run: $(cat nan_stop.err)"
else
  bad "NaN stop (status $rc): $(cat nan_stop.err)"
fi
[ "$(newest_step nan_stop)" -eq 10 ] && $DPVAE sample nan_stop --n 4 --out nan_stop.png >/dev/null 2>&1 &&
  pass "the stopped run's last good checkpoint (step 10) loads" || bad "the stopped run's checkpoint"
[ "$(tail -1 nan_stop/metrics.csv | cut -d, -f1)" = 12 ] && pass "metrics.csv of the stopped run ends at step 12" ||
  bad "metrics.csv of the stopped run ends at $(tail -1 nan_stop/metrics.csv | cut -d, -f1)"

DPVAE_FAULT_NAN_STEPS=13,17 $T --objective beta-tc --prior decoupled --steps 30 --batch-size 16 --checkpoint-every 10 \
  --skip-nonfinite --out nan_skip >nan_skip.out 2>nan_skip.err
rc=$?
last=$(tail -1 nan_skip/metrics.csv)
if [ $rc -eq 0 ] && grep -q "2 step(s) skipped" nan_skip.out && grep -q "skipped step 13: the loss term 'recon'" nan_skip.out &&
   [ "$(head -1 nan_skip/metrics.csv | awk -F, '{print $NF}')" = skipped ] && [ "${last##*,}" = 2 ] &&
   [ "$(tail -n +2 nan_skip/metrics.csv | wc -l)" -eq 28 ] && grep -q '"skip_nonfinite": true' nan_skip/config.json; then
  pass "--skip-nonfinite skips steps 13 and 17, counts 2 (stdout and metrics.csv), finishes 30 steps"
else
  bad "--skip-nonfinite (status $rc): $(tail -3 nan_skip.out) $(cat nan_skip.err) last row: $last"
fi
# A skipped step leaves the parameters as they were: with the NaN at the very last step the
# parameters of step 30 equal those of step 29 (the discriminator and both Adams as well).
DPVAE_FAULT_NAN_STEPS=30 $T --objective factor --prior decoupled --steps 30 --batch-size 16 --checkpoint-every 29 \
  --keep-checkpoints 5 --skip-nonfinite --out nan_last >nan_last.out 2>&1
python3 - nan_last/checkpoints/step-00000029.safetensors nan_last/checkpoints/step-00000030.safetensors <<'PY' &&
import json, struct, sys
def read(p):
    b = open(p, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8+n])
    meta = h.pop('__metadata__', {})
    return {k: b[8+n+v['data_offsets'][0]:8+n+v['data_offsets'][1]] for k, v in h.items()}, meta
(a, ma), (b, mb) = read(sys.argv[1]), read(sys.argv[2])
state = [k for k in a if k not in ('rng.state', 'data.order', 'data.rng')]
ok = (len(state) > 10 and all(a[k] == b[k] for k in state) and ma['optimizer.step'] == mb['optimizer.step'] == '29' and mb['step'] == '30'
      and mb['run.skipped_steps'] == '1' and ma['discriminator_optimizer.step'] == mb['discriminator_optimizer.step'])
sys.exit(0 if ok else 1)
PY
  pass "a skipped step leaves parameters, discriminator and both Adam states untouched" || bad "a skipped step changed the state"

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
