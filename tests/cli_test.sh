#!/usr/bin/env bash
# End-to-end tests of the dpvae program: tiny runs, resume bit-identity, and every bad input
# of the core issue getting one line on stderr and exit status 2 (never a crash).
# Usage: DPVAE=path/to/dpvae tests/cli_test.sh WORKDIR
set -u
here=$(cd "$(dirname "$0")" && pwd)
work=${1:?usage: cli_test.sh WORKDIR}
rm -rf "$work" && mkdir -p "$work"
cd "$work" || exit 1
# shellcheck source=cli_common.sh
source "$here/cli_common.sh"

T="$DPVAE train --dataset two-moons --log-every 1000"

# --- a tiny run of each prior; sample and compare --------------------------------------
if $T --objective beta-h --prior decoupled --steps 40 --batch-size 50 --checkpoint-every 20 --out dp >log.txt 2>&1 &&
   $T --objective beta-h --prior standard --steps 40 --batch-size 50 --out std >>log.txt 2>&1; then
  pass "train two-moons, both priors"
else
  bad "train two-moons: $(tail -3 log.txt)"
fi
for f in dp/config.json dp/metrics.csv dp/checkpoints/step-00000040.safetensors dp/samples/step-00000040.png; do
  [ -s "$f" ] && pass "run folder has $f" || bad "run folder lacks $f"
done
[ "$(wc -l <dp/metrics.csv)" -eq 41 ] && pass "metrics.csv has a header and 40 rows" || bad "metrics.csv rows: $(wc -l <dp/metrics.csv)"
$DPVAE sample dp --n 16 --out s.png 2>/dev/null && [ -s s.png ] && pass "sample" || bad "sample"
$DPVAE compare std dp --out c.png 2>/dev/null && [ -s c.png ] && pass "compare" || bad "compare"

# --- DIP-VAE: a tiny run and its samples; bad weights; no official preset -----------------
if $T --objective dip-i --prior decoupled --steps 40 --batch-size 50 --out dip >dip_log.txt 2>&1; then
  pass "train dip-i, decoupled prior"
else
  bad "train dip-i: $(tail -3 dip_log.txt)"
fi
head -1 dip/metrics.csv 2>/dev/null | grep -q ',dip' && pass "metrics.csv logs the dip penalty" || bad "no dip column: $(head -1 dip/metrics.csv 2>/dev/null)"
grep -q '"lambda_od"' dip/config.json 2>/dev/null && pass "config.json records lambda_od" || bad "config.json lacks lambda_od"
$DPVAE sample dip --n 16 --out dip.png >/dev/null 2>&1 && [ -s dip.png ] && pass "sample dip-i" || bad "sample dip-i"
expect_error "negative lambda-od" "--lambda-od must be" $T --objective dip-i --lambda-od -1 --steps 5 --out e1
expect_error "lambda-od on another objective" "--lambda-od does not apply to beta-h" $T --objective beta-h --lambda-od 1 --steps 5 --out e1
expect_error "official preset of dip-ii" "official code has no dip-ii" $T --objective dip-ii --preset official --steps 5 --out e1
expect_error "a misspelt option" "did you mean --beta?" $T --objective beta-h --bta 3 --steps 5 --out e1
expect_error "another subcommand's option" "--data-root is an option of" $DPVAE evaluate e1 --out e1.json --data-root x
expect_error "fid of a file that is no image set" "not an IDX file" $DPVAE fid $DPVAE $DPVAE
# Statistics and features that once crashed or gave a number: each is refused in one line.
python3 - <<'PY'
import json, struct
def safetensors(path, tensors):
    header, data = {}, b""
    for name, (shape, values) in tensors.items():
        raw = struct.pack("<%df" % len(values), *values)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + data)
safetensors("stats0.safetensors", {"mu": ([0], []), "sigma": ([0, 0], [])})
safetensors("nonsym.safetensors", {"mu": ([2], [0, 0]), "sigma": ([2, 2], [1, 0.5, 0, 1])})
safetensors("huge.safetensors", {"features": ([3, 2], [1e30, 0, 0, 1e30, 1, 1])})
PY
expect_error "fid statistics of dimension 0" "F >= 1" $DPVAE fid stats0.safetensors stats0.safetensors
expect_error "fid statistics not symmetric" "sigma is not symmetric" $DPVAE fid nonsym.safetensors nonsym.safetensors
expect_error "fid features beyond double range" "beyond 1e15" $DPVAE fid huge.safetensors huge.safetensors --features
expect_error "fid --json into a missing folder" "no folder" $DPVAE fid huge.safetensors huge.safetensors --features --json nodir/x.json
expect_error "lambda on beta-tc" "--lambda does not apply to beta-tc" $T --objective beta-tc --lambda 3 --steps 5 --out e1

# --- resume is bit-identical ------------------------------------------------------------
$T --objective factor --prior decoupled --steps 30 --batch-size 20 --checkpoint-every 15 --out full >/dev/null 2>&1
$T --objective factor --prior decoupled --steps 15 --batch-size 20 --checkpoint-every 15 --out half >/dev/null 2>&1
$DPVAE train --resume --steps 30 --out half >/dev/null 2>&1
python3 - "$PWD" <<'PY' && pass "resumed run is bit-identical to an uninterrupted one" || bad "resume differs"
import json, struct, sys
def tensors(p):
    b = open(p, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8+n])
    h.pop('__metadata__', None)
    return {k: b[8+n+v['data_offsets'][0]:8+n+v['data_offsets'][1]] for k, v in h.items()}
a = tensors(sys.argv[1] + '/full/checkpoints/step-00000030.safetensors')
b = tensors(sys.argv[1] + '/half/checkpoints/step-00000030.safetensors')
sys.exit(0 if a == b and len(a) > 10 else 1)
PY

# --- resume with the run's own command -----------------------------------------------------
# The command that started a run, with --resume added, is accepted (every setting it gives
# equals the stored one; --data-root relative as given); a changed setting is refused.
R="$T --objective beta-tc --prior decoupled --batch-size 20 --checkpoint-every 10 --seed 3 --data-root ."
$R --steps 10 --out same >/dev/null 2>&1
$R --steps 20 --out same_full >/dev/null 2>&1
if $R --steps 20 --out same --resume >same.log 2>&1 && grep -q "resuming same from step-00000010" same.log &&
   [ -s same/checkpoints/step-00000020.safetensors ]; then
  pass "the run's own command with --resume and a new --steps continues it"
else
  bad "resume with the run's own command: $(tail -2 same.log)"
fi
python3 - "$PWD" <<'PY' && pass "... and ends bit-identical to an uninterrupted run" || bad "resume with the run's own command differs"
import json, struct, sys
def tensors(p):
    b = open(p, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8+n])
    h.pop('__metadata__', None)
    return {k: b[8+n+v['data_offsets'][0]:8+n+v['data_offsets'][1]] for k, v in h.items()}
a = tensors(sys.argv[1] + '/same_full/checkpoints/step-00000020.safetensors')
b = tensors(sys.argv[1] + '/same/checkpoints/step-00000020.safetensors')
sys.exit(0 if a == b and len(a) > 10 else 1)
PY
python3 -c "import json,sys; sys.exit(0 if json.load(open('same/config.json'))['steps'] == 20 else 1)" &&
  pass "config.json holds the new total after --resume --steps 20" || bad "config.json after --resume --steps: $(grep steps same/config.json)"
$R --steps 20 --out same --resume >same2.log 2>&1 && grep -q "has already run 20 of 20 steps" same2.log &&
  pass "the same command again with --resume: accepted, nothing left to run" || bad "same command again: $(tail -2 same2.log)"
expect_error "a changed --beta with --resume" "^dpvae: error: --beta 3 differs from the run's stored value 6 (same/config.json); a resumed run keeps its settings (only --steps and --threads may change)$" \
  $R --beta 3 --steps 30 --out same --resume
expect_error "a changed preset with --resume" "--preset official differs" $R --preset official --steps 30 --out same --resume
expect_error "a changed flag with --resume" "--skip-nonfinite true differs from the run's stored value false" \
  $R --skip-nonfinite --steps 30 --out same --resume
[ "$(tail -1 same/metrics.csv | cut -d, -f1)" -eq 20 ] && pass "refused resumes left the run at step 20" || bad "refused resumes changed the run"

# --- bad input: one line, status 2 --------------------------------------------------------
expect_error "unknown objective" "unknown objective" $T --objective nope --steps 5 --out e1
expect_error "unknown prior" "unknown prior" $T --prior nope --steps 5 --out e1
expect_error "negative beta" "--beta must be" $T --objective beta-h --beta -1 --steps 5 --out e1
expect_error "negative gamma" "--gamma must be" $T --objective factor --gamma -2 --steps 5 --out e1
expect_error "zero steps" "--steps must be in" $T --steps 0 --out e1
expect_error "absurd steps" "--steps must be in" $T --steps 99999999999999 --out e1
expect_error "negative seed" "seed" $T --steps 5 --seed -1 --out e1
expect_error "settings with --resume" "only --steps and --threads" $DPVAE train --resume --out dp --lr 0.5
expect_error "non-finite loss" "step 1: the loss term .recon. is not finite" $T --steps 5 --likelihood-weight 1e308 --out nan
[ -s nan/checkpoints/step-00000000.safetensors ] && pass "a stopped run keeps its step-0 checkpoint" || bad "no step-0 checkpoint"
expect_error "unknown option" "error" $T --steps 5 --bogus 1 --out e1
expect_error "missing mnist" "no mnist data" $DPVAE train --dataset mnist --data-root nowhere --steps 5 --out e1

mkdir -p idx
python3 - <<'PY'
import struct, gzip
def images(path, n, h, w, magic=b'\x00\x00\x08\x03', cut=0):
    data = magic + struct.pack('>III', n, h, w) + bytes((i * 7) % 256 for i in range(n * h * w))
    open(path, 'wb').write(data[:len(data) - cut])
def labels(path, n):
    open(path, 'wb').write(b'\x00\x00\x08\x01' + struct.pack('>I', n) + bytes(i % 10 for i in range(n)))
import os
for d, kw in [('idx/trunc', {'cut': 5}), ('idx/magic', {'magic': b'PK\x03\x04'}), ('idx/odd', {})]:
    os.makedirs(d, exist_ok=True)
    h = 27 if d == 'idx/odd' else 28
    images(d + '/train-images-idx3-ubyte', 20, h, h, **kw); labels(d + '/train-labels-idx1-ubyte', 20)
    images(d + '/t10k-images-idx3-ubyte', 10, h, h); labels(d + '/t10k-labels-idx1-ubyte', 10)
os.makedirs('idx/missing', exist_ok=True)
PY
expect_error "truncated IDX" "truncated" $DPVAE train --dataset idx:idx/trunc --steps 5 --out e1
expect_error "wrong IDX magic" "bad magic" $DPVAE train --dataset idx:idx/magic --steps 5 --out e1
expect_error "missing IDX files" "no train-images" $DPVAE train --dataset idx:idx/missing --steps 5 --out e1
expect_error "wrong image size" "27 × 27" $DPVAE train --dataset idx:idx/odd --steps 5 --batch-size 10 --out e1
expect_error "batch larger than data" "exceeds the training set" $DPVAE train --dataset idx:idx/odd --steps 5 --batch-size 50 --out e1

expect_error "run folder already used" "already holds a run" $T --steps 5 --out dp
expect_error "sample of a missing run" "no such run folder" $DPVAE sample nowhere --out x.png
mkdir -p nockpt && cp dp/config.json nockpt/
expect_error "run without checkpoint" "no checkpoint" $DPVAE sample nockpt --out x.png
mkdir -p corrupt/checkpoints && cp dp/config.json corrupt/ && head -c 100 dp/checkpoints/step-00000040.safetensors >corrupt/checkpoints/step-00000040.safetensors
expect_error "truncated checkpoint" "not a valid safetensors file" $DPVAE sample corrupt --out x.png
mkdir -p other/checkpoints && cp dp/config.json other/ && cp std/checkpoints/step-00000040.safetensors other/checkpoints/
expect_error "checkpoint of another model" "checkpoint of another model" $DPVAE sample other --out x.png
cp dp/config.json badcfg.json && echo '{"dataset": "two-moons", "surprise": 1}' >other/config.json
expect_error "config with an unknown key" "unknown key" $DPVAE sample other --out x.png
expect_error "resume without checkpoint" "no checkpoint" $DPVAE train --resume --out nockpt
mkdir -p ro && chmod 555 ro
if [ "$(id -u)" -ne 0 ]; then
  expect_error "unwritable output folder" "cannot" $T --steps 5 --out ro/run
  expect_error "unwritable sample file" "cannot write" $DPVAE sample dp --out ro/x.png
fi
expect_error "sample into a missing folder" "cannot write" $DPVAE sample dp --out no/such/dir/x.png
# nothing already written was destroyed by the failed commands
[ -s dp/checkpoints/step-00000040.safetensors ] && [ -s dp/config.json ] && pass "earlier run intact" || bad "earlier run damaged"

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
