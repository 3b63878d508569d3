#!/usr/bin/env bash
# Hostile and bad input, table-driven: one row per bad input. Each row runs
# the program and checks exit status 2, exactly one line on stderr naming the problem, no
# crash or sanitizer report, and that the files it was pointed at are byte for byte as before.
# Usage: DPVAE=path/to/dpvae tests/hostile_input_test.sh WORKDIR
set -u
work=${1:?usage: hostile_input_test.sh WORKDIR}
rm -rf "$work" && mkdir -p "$work"
cd "$work" || exit 1
fails=0
pass() { echo "ok   - $1"; }
bad() { echo "FAIL - $1"; fails=$((fails + 1)); }

T="$DPVAE train --dataset two-moons --log-every 1000 --threads 1 --sample-every 1000"
# Two small runs to tamper with: decoupled prior (d = 2) and another architecture (d = 3).
$T --objective beta-h --prior decoupled --steps 4 --batch-size 16 --checkpoint-every 2 --out base >base.log 2>&1 ||
  { echo "FAIL - setup: $(tail -2 base.log)"; exit 1; }
$T --objective beta-h --prior decoupled --latent-dim 3 --steps 2 --batch-size 16 --out d3 >d3.log 2>&1 ||
  { echo "FAIL - setup d3"; exit 1; }
CK=checkpoints/step-00000004.safetensors

# fixture KIND DIR: a copy of the base run with its newest checkpoint (or config) made bad.
fixture() {
  local kind=$1 dir=$2
  rm -rf "$dir" && cp -r base "$dir"
  python3 - "$kind" "$dir" "$CK" <<'PY'
import json, struct, sys, os
kind, d, ck = sys.argv[1:]
path = os.path.join(d, ck)
b = open(path, 'rb').read(); n = struct.unpack('<Q', b[:8])[0]; h = json.loads(b[8:8+n]); data = b[8+n:]
def write(header, body=data, hlen=None):
    hb = json.dumps(header).encode()
    open(path, 'wb').write(struct.pack('<Q', len(hb) if hlen is None else hlen) + hb + body)
first = next(k for k in h if k.startswith('encoder.'))
if kind == 'dtype':   h[first]['dtype'] = 'I32'; write(h)
elif kind == 'dtype2': # a valid U8 tensor of the right shape: the model takes F32 only
    e = h[first]; e['dtype'] = 'U8'; n = 1
    for s in e['shape']: n *= s
    e['data_offsets'] = [0, n]; write(h)
elif kind == 'shape': # the same values, flattened
    e = h[first]; n = 1
    for s in e['shape']: n *= s
    e['shape'] = [n]; write(h)
elif kind == 'offsets': h[first]['data_offsets'] = [0, len(data) + 4096]; write(h)
elif kind == 'overlap': # offsets that overflow when added
    h[first]['data_offsets'] = [2**64 - 8, 2**64 - 4]; write(h)
elif kind == 'negdim': h[first]['shape'] = [-4, 2]; write(h)
elif kind == 'hugedim': h[first]['shape'] = [2**62, 2**62]; write(h)
elif kind == 'hugeheader': write(h, hlen=2**63 + 5)
elif kind == 'notjson': open(path, 'wb').write(struct.pack('<Q', 6) + b'{"a": ' + data)
elif kind == 'missing': del h[first]; write(h)
elif kind == 'meta': h['__metadata__']['step'] = '-1'; write(h)
elif kind == 'empty': open(path, 'wb').write(b'')
elif kind.startswith('cfg:'):
    c = json.load(open(os.path.join(d, 'config.json')))
    what = kind[4:]
    if what == 'unknown': c['learning_rate'] = 0.1
    elif what == 'range': c['latent_dim'] = 0
    elif what == 'overflow': c['threads'] = 2**32 + 1
    elif what == 'type': c['steps'] = "many"
    elif what == 'negative': c['seed'] = -3
    elif what == 'nan': c['lr'] = 1e999  # json.dumps writes Infinity: not JSON
    open(os.path.join(d, 'config.json'), 'w').write(json.dumps(c))
    if what == 'notjson': open(os.path.join(d, 'config.json'), 'w').write('{"dataset": "two-moons",')
PY
}

# IDX data sets in idx/NAME: good label and test files, train images as given.
idx_set() {
  local name=$1 header_hex=$2 nbytes=$3
  mkdir -p idx/$name
  python3 - idx/$name "$header_hex" "$nbytes" <<'PY'
import struct, sys
d, hx, nb = sys.argv[1], sys.argv[2], int(sys.argv[3])
open(d + '/train-images-idx3-ubyte', 'wb').write(bytes.fromhex(hx) + bytes(i % 251 for i in range(nb)))
open(d + '/train-labels-idx1-ubyte', 'wb').write(b'\x00\x00\x08\x01' + struct.pack('>I', 20) + bytes(20))
open(d + '/t10k-images-idx3-ubyte', 'wb').write(b'\x00\x00\x08\x03' + struct.pack('>III', 10, 28, 28) + bytes(7840))
open(d + '/t10k-labels-idx1-ubyte', 'wb').write(b'\x00\x00\x08\x01' + struct.pack('>I', 10) + bytes(10))
PY
}

# row NAME PHRASE WATCH CMD...: status 2, one stderr line containing PHRASE, and WATCH (a
# file or folder) unchanged byte for byte.
row() {
  local name=$1 phrase=$2 watch=$3
  shift 3
  local before after
  before=$(find "$watch" -type f -print0 2>/dev/null | sort -z | xargs -0 md5sum 2>/dev/null | md5sum)
  "$@" >out.txt 2>err.txt
  local rc=$?
  after=$(find "$watch" -type f -print0 2>/dev/null | sort -z | xargs -0 md5sum 2>/dev/null | md5sum)
  local lines
  lines=$(wc -l <err.txt)
  if [ "$rc" -eq 2 ] && [ "$lines" -eq 1 ] && grep -q -- "$phrase" err.txt &&
     ! grep -q -E 'terminate|Sanitizer|runtime error|Aborted' err.txt && [ "$before" = "$after" ]; then
    pass "$name: $(cat err.txt)"
  else
    bad "$name (status $rc, $lines lines, files $([ "$before" = "$after" ] && echo intact || echo CHANGED)): $(head -c 600 err.txt)"
  fi
}

# --- IDX files --------------------------------------------------------------------------
idx_set more  00000803000000140000001c0000001c 100                  # 20 × 28 × 28 declared, 100 bytes
idx_set huge  00000804ffffffffffffffffffffffffffffffff 64           # 4 sizes of 2^32 − 1: overflows
idx_set neg   00000803800000000000001c0000001c 64                   # a "negative" int32 size
idx_set zero  0000080300000014000000000000001c 64                   # a zero size
idx_set ndim0 00000800 16                                           # no dimensions
idx_set dtype 00000d03000000140000001c0000001c 64                   # float32 IDX
idx_set short 000008 0                                              # shorter than the magic
idx_set gz    1f8b0800000000000003 8                                # gzip magic, then garbage
row "IDX header claims more data than the file" "truncated: header declares 15680 bytes" idx \
    $DPVAE train --dataset idx:idx/more --steps 2 --out r1
row "IDX sizes whose product overflows" "overflows a 64-bit byte count" idx $DPVAE train --dataset idx:idx/huge --steps 2 --out r1
row "IDX negative (int32) size" "truncated" idx $DPVAE train --dataset idx:idx/neg --steps 2 --out r1
row "IDX zero size" "has size 0" idx $DPVAE train --dataset idx:idx/zero --steps 2 --out r1
row "IDX with no dimensions" "declares 0 dimensions" idx $DPVAE train --dataset idx:idx/ndim0 --steps 2 --out r1
row "IDX of another dtype" "is not supported" idx $DPVAE train --dataset idx:idx/dtype --steps 2 --out r1
row "IDX shorter than its magic" "not an IDX file" idx $DPVAE train --dataset idx:idx/short --steps 2 --out r1
row "IDX corrupt gzip" "corrupt gzip data" idx $DPVAE train --dataset idx:idx/gz --steps 2 --out r1
[ ! -e r1 ] && pass "no run folder is left behind by the rejected data sets" || bad "a run folder r1 was created"

# --- safetensors checkpoints ---------------------------------------------------------------
for spec in "dtype|unsupported dtype I32" "dtype2|step-00000004.safetensors: tensor 'encoder.0.weight' has dtype U8, expected F32" "shape|has the wrong shape" \
            "offsets|lies outside the file" "overlap|lies outside the file" "negdim|negative or non-integer dimension" \
            "hugedim|is too large" "hugeheader|the header claims" "notjson|header is not JSON" \
            "missing|is missing" "meta|not a number" "empty|shorter than its 8-byte header"; do
  kind=${spec%%|*} phrase=${spec#*|}
  fixture "$kind" ck_$kind
  row "checkpoint: $kind" "$phrase" ck_$kind $DPVAE sample ck_$kind --out ck_$kind.png
done
# Resume falls back to an older checkpoint; with every checkpoint bad it names them all.
fixture hugeheader ck_all && python3 -c "
import shutil; shutil.copy('ck_all/$CK', 'ck_all/checkpoints/step-00000002.safetensors')"
row "resume with no usable checkpoint" "no usable checkpoint" ck_all $DPVAE train --resume --out ck_all
mkdir -p other && cp -r base/config.json other/ && mkdir -p other/checkpoints && cp d3/checkpoints/step-00000002.safetensors other/checkpoints/
row "checkpoint of another architecture (d = 3 into d = 2)" "checkpoint of another model" other $DPVAE sample other --out o.png
row "resume from a checkpoint of another architecture" "checkpoint of another model" other $DPVAE train --resume --out other

# --- config.json ---------------------------------------------------------------------------
for spec in "unknown|unknown key 'learning_rate'" "range|config.json: --latent-dim must be in" "overflow|key 'threads' is out of range" \
            "type|key 'steps' must be an integer" "negative|key 'seed' must be a non-negative integer" \
            "nan|not valid JSON" "notjson|not valid JSON"; do
  kind=${spec%%|*} phrase=${spec#*|}
  fixture "cfg:$kind" cfg_$kind
  row "config.json: $kind" "$phrase" cfg_$kind $DPVAE sample cfg_$kind --out cfg_$kind.png
  row "config.json: $kind (resume)" "$phrase" cfg_$kind $DPVAE train --resume --out cfg_$kind
done

# --- integer options: a number out of the type's range or not a number is refused, not clamped ---
row "--seed beyond 2^64 - 1" "--seed: must be an integer in \[0, 18446744073709551615\], not '99999999999999999999999'" base \
  $T --steps 2 --seed 99999999999999999999999 --out r1
row "--seed negative" "--seed: must be an integer in \[0, " base $T --steps 2 --seed -1 --out r1
row "--seeds not a number" "--seeds: must be an integer in \[1, 1000\], not 'abc'" base $DPVAE reproduce --dataset two-moons --seeds abc --out r1
row "--steps fractional" "--steps: must be an integer in \[1, 1000000000\], not '2.5'" base $DPVAE reproduce --dataset two-moons --steps 2.5 --out r1

# --- output that cannot be written -----------------------------------------------------------
echo "a file" >afile
row "run folder under a regular file" "cannot create the run folder" afile $T --steps 2 --out afile/run
mkfifo fifo.png
row "sample onto a FIFO" "is not a regular file" base $DPVAE sample base --out fifo.png
[ -p fifo.png ] && pass "the FIFO is still a FIFO" || bad "the FIFO was replaced"
mkdir -p ro
if [ "$(id -u)" -ne 0 ]; then
  chmod 555 ro
  row "unwritable output folder" "cannot" ro $T --steps 2 --out ro/run
else
  # root ignores permission bits: a read-only bind mount or /proc stands in when available.
  row "output folder on a read-only file system" "cannot" base $T --steps 2 --out /proc/dpvae-run
fi

# A full disk, two ways: a file-size limit (write(2) fails with EFBIG; SIGXFSZ ignored), and
# where mount is allowed, a 2 MiB tmpfs filled up (ENOSPC). The earlier checkpoints must survive.
cp -r base full1
size=$(stat -c %s base/$CK)
(trap '' XFSZ; ulimit -f $(((size / 2) / 1024)); exec $DPVAE train --resume --steps 8 --out full1) >out.txt 2>err.txt
rc=$?
if [ $rc -eq 2 ] && [ "$(wc -l <err.txt)" -eq 1 ] && grep -q "cannot write .*File too large" err.txt &&
   cmp -s base/$CK full1/$CK && ! ls full1/checkpoints | grep -q tmp && $DPVAE sample full1 --out f1.png >/dev/null 2>&1; then
  pass "full disk (file-size limit): $(cat err.txt); earlier checkpoints intact and loadable, no temporary left"
else
  bad "full disk (file-size limit), status $rc: $(cat err.txt); $(ls full1/checkpoints)"
fi
mkdir -p small
if mount -t tmpfs -o size=2m tmpfs small 2>/dev/null; then
  cp -r base small/run 2>/dev/null
  # fill the rest of the file system, then resume
  head -c 10M /dev/zero >small/filler 2>/dev/null
  $DPVAE train --resume --steps 8 --out small/run >out.txt 2>err.txt
  rc=$?
  if [ $rc -eq 2 ] && [ "$(wc -l <err.txt)" -eq 1 ] && grep -q "No space left on device" err.txt &&
     cmp -s base/$CK small/run/$CK && ! ls small/run/checkpoints | grep -q tmp; then
    pass "full disk (tmpfs): $(cat err.txt); earlier checkpoints intact, no temporary left"
  else
    bad "full disk (tmpfs), status $rc: $(cat err.txt)"
  fi
  umount small
else
  echo "note - mount is not allowed here: the tmpfs full-disk row ran as the file-size-limit row above"
fi

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
