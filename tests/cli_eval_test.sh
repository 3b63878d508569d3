#!/usr/bin/env bash
# End-to-end tests of the evaluation commands: evaluate, sample --low/--high-posterior,
# feature-net train and reproduce (tiny budget), on two-moons and on a generated 16 × 16 IDX
# image set; every figure must decode and not be blank; bad inputs get one line and status 2.
# Usage: DPVAE=path/to/dpvae tests/cli_eval_test.sh WORKDIR
set -u
here=$(cd "$(dirname "$0")" && pwd)
work=${1:?usage: cli_eval_test.sh WORKDIR}
rm -rf "$work" && mkdir -p "$work"
cd "$work" || exit 1
# shellcheck source=cli_common.sh
source "$here/cli_common.sh"
json_check() {  # NAME FILE PYTHON-EXPRESSION over j
  if python3 -c "import json,math,sys; j=json.load(open(sys.argv[1])); sys.exit(0 if ($3) else 1)" "$2"; then pass "$1"; else bad "$1: $(head -c 400 "$2")"; fi
}
SMALL="--samples 200 --lp-candidates 2000 --skl-samples 300 --nll-k 10 --nll-points 20 --leakage-samples 300"

# --- two-moons: evaluate, LP/HP samples ----------------------------------------------------
T="$DPVAE train --dataset two-moons --log-every 1000"
$T --objective beta-h --prior decoupled --steps 60 --batch-size 50 --out dp >log.txt 2>&1 || bad "train: $(tail -2 log.txt)"
if $DPVAE evaluate dp --out dp.json $SMALL --figures figs >eval.txt 2>&1; then pass "evaluate two-moons"; else bad "evaluate: $(tail -3 eval.txt)"; fi
json_check "metrics.json has every metric, finite" dp.json \
  "all(math.isfinite(x) for x in [j['fid']['value'], j['fid_lp']['value'], j['skl']['value'], j['nll']['nats'], j['probe']['test_accuracy'], j['mig']['value']]) and len(j['leakage']['curve']) == 6 and j['fid']['generated'] == 200 and j['fid_lp']['candidates'] == 2000 and j['nll']['k'] == 10"
json_check "leakage fractions grow with tau" dp.json \
  "all(a['fraction'] <= b['fraction'] for a, b in zip(j['leakage']['curve'], j['leakage']['curve'][1:]))"
grep -q "NLL by importance sampling" eval.txt && pass "evaluate prints progress" || bad "no progress lines"
pngs_ok "two-moons latent figure" figs/beta-h-decoupled-latent.png
$DPVAE sample dp --low-posterior --candidates 500 --n 32 --out lp.png >/dev/null 2>&1 && \
$DPVAE sample dp --high-posterior --candidates 500 --n 32 --out hp.png >/dev/null 2>&1 && pngs_ok "LP and HP sample plots" lp.png hp.png || bad "sample --low/--high-posterior failed"
if $DPVAE sample dp --sampler gmm --n 64 --out gmm.png >gmm.txt 2>&1 && grep -q 'ex-post GMM of 10 components fitted to' gmm.txt; then
  pngs_ok "ex-post GMM samples" gmm.png
else
  bad "sample --sampler gmm: $(tail -2 gmm.txt)"
fi
expect_error "unknown sampler" "unknown --sampler 'vamp'" $DPVAE sample dp --sampler vamp --out x.png
if $DPVAE sample dp --sampler flow --flow-steps 300 --n 64 --out flow.png >flow.txt 2>&1 &&
   grep -q 'ex-post flow of 6 coupling blocks fitted to q(z) of .* in 300 steps' flow.txt; then
  pngs_ok "ex-post flow samples (--flow-steps 300)" flow.png
else
  bad "sample --sampler flow: $(tail -2 flow.txt)"
fi
expect_error "--flow-steps without the flow" "--flow-steps needs --sampler flow" $DPVAE sample dp --flow-steps 10 --out x.png
expect_error "sample into a .jpg name" "the figure is written as PNG; name a .png file" $DPVAE sample dp --out x.jpg
expect_error "GMM with LP" "--sampler gmm draws from the ex-post sampler" $DPVAE sample dp --sampler gmm --low-posterior --out x.png
expect_error "both LP and HP" "only one of" $DPVAE sample dp --low-posterior --high-posterior --out x.png
expect_error "fewer candidates than samples" "--candidates" $DPVAE sample dp --low-posterior --candidates 10 --n 20 --out x.png
expect_error "candidates without LP/HP" "need --low-posterior" $DPVAE sample dp --candidates 10 --out x.png
expect_error "evaluate a missing run" "no such run folder" $DPVAE evaluate nosuch --out x.json
expect_error "evaluate with K = 0" "--nll-k" $DPVAE evaluate dp --out x.json --nll-k 0
expect_error "evaluate into a missing folder" "no folder" $DPVAE evaluate dp --out no/such/x.json $SMALL
expect_error "feature net for two-moons" "needs no feature net" $DPVAE feature-net train --dataset two-moons
expect_error "reproduce with an unknown budget" "unknown --budget" $DPVAE reproduce --dataset two-moons --budget huge --out r
expect_error "reproduce an unknown data set" "unknown dataset 'cifar'" $DPVAE reproduce --dataset cifar --out r

# --- a small image set: feature net, evaluate with figures -----------------------------------
python3 "$here/make_idx_fixture.py" shapes
I="--dataset idx:$PWD/shapes"
if $DPVAE feature-net train $I --data-root . --steps 150 >fn.txt 2>&1 && grep -q "test accuracy" fn.txt; then
  pass "feature net trained: $(grep 'test accuracy' fn.txt | head -1)"
else
  bad "feature-net train: $(tail -2 fn.txt)"
fi
acc=$(sed -n 's/.*test accuracy \([0-9.]*\).*/\1/p' fn.txt | head -1)
python3 -c "import sys; sys.exit(0 if float('${acc:-0}') > 0.9 else 1)" && pass "feature net test accuracy $acc > 0.9" || bad "feature net accuracy ${acc:-none}"
$DPVAE feature-net train $I --data-root . >fn2.txt 2>&1 && grep -q "reusing" fn2.txt && pass "feature net reused" || bad "feature net not reused: $(tail -1 fn2.txt)"
cp feature-nets/idx-shapes.safetensors saved.safetensors
head -c 300 saved.safetensors >feature-nets/idx-shapes.safetensors
$DPVAE train $I --objective info --prior decoupled --steps 30 --batch-size 50 --log-every 1000 --out img >log.txt 2>&1 || bad "train images: $(tail -2 log.txt)"
expect_error "corrupt feature net" "safetensors" $DPVAE evaluate img --out x.json --feature-net feature-nets/idx-shapes.safetensors $SMALL
cp saved.safetensors feature-nets/idx-shapes.safetensors
if $DPVAE evaluate img --out img.json --feature-net feature-nets/idx-shapes.safetensors $SMALL --figures ifigs >eval.txt 2>&1; then
  pass "evaluate images"
else
  bad "evaluate images: $(tail -3 eval.txt)"
fi
json_check "image metrics name the feature space and its accuracy" img.json \
  "'feature net' in j['feature_space']['name'] and j['feature_space']['test_accuracy'] > 0.9 and math.isfinite(j['fid']['value']) and j['nll']['bits_per_dim'] > 0"
pngs_ok "image figures (samples, traversals, sweeps, latent)" ifigs/info-decoupled-samples.png ifigs/info-decoupled-traversals.png ifigs/info-decoupled-sweeps.png ifigs/info-decoupled-latent.png

# --- standard FID with random FID Inception weights (the real ones cannot be downloaded here) --
# The same 6 test images as PGM files, as a uint8 .npy and as an IDX file: FID 0 between any
# two (the readers give the network the same input; KID's unbiased estimate of a set against
# itself is not 0); a run's samples; evaluate --fid-weights.
"$RANDOM_INCEPTION" w.safetensors || bad "make_random_inception failed"
python3 - <<'PY'
import os, struct
raw = open("shapes/t10k-images-idx3-ubyte", "rb").read()[16:16 + 6 * 256]
os.makedirs("pgm", exist_ok=True)
for i in range(6):
    open("pgm/%d.pgm" % i, "wb").write(b"P5 16 16 255\n" + raw[i * 256:(i + 1) * 256])
header = "{'descr': '|u1', 'fortran_order': False, 'shape': (6, 16, 16), }"
header += " " * (-(10 + len(header) + 1) % 64) + "\n"
open("six.npy", "wb").write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + raw)
open("six.idx", "wb").write(struct.pack(">IIII", 0x803, 6, 16, 16) + raw)
PY
for pair in "pgm six.npy" "six.npy six.idx"; do
  # shellcheck disable=SC2086
  if $DPVAE fid $pair --weights w.safetensors --json fid.json >fid.txt 2>&1; then
    json_check "fid $pair: 0 for the same images" fid.json "abs(j['fid']) < 1e-6 and math.isfinite(j['kid']['mean']) and j['a']['count'] == 6 and j['b']['count'] == 6 and 'Inception' in j['feature_space']"
  else
    bad "fid $pair: $(tail -2 fid.txt)"
  fi
done
if $DPVAE fid img six.idx --weights w.safetensors --samples 8 --json fid.json >fid.txt 2>&1; then
  json_check "fid of a run's samples" fid.json "math.isfinite(j['fid']) and j['a']['count'] == 8 and 'samples of' in j['a']['what']"
else
  bad "fid of a run: $(tail -2 fid.txt)"
fi
expect_error "fid of a two-moons run" "are not images" $DPVAE fid dp six.idx --weights w.safetensors --samples 8
# B is opened and checked before A's features are computed: the error comes at once.
expect_error "fid with a missing second set" "cannot open nosuch.npy" $DPVAE fid six.idx nosuch.npy --weights w.safetensors
expect_error "fid with one set and no --save-stats" "give two sets" $DPVAE fid six.idx --weights w.safetensors
expect_error "fid of a missing folder" "No such file or directory" $DPVAE fid ifigs/empty six.idx --weights w.safetensors
mkdir -p ifigs/empty
expect_error "fid of a folder without images" "no image files" $DPVAE fid ifigs/empty six.idx --weights w.safetensors
if $DPVAE evaluate img --out std.json --feature-net feature-nets/idx-shapes.safetensors $SMALL --fid-weights w.safetensors \
     --standard-fid-samples 8 >eval.txt 2>&1; then
  json_check "evaluate --fid-weights: standard FID, FID(LP) and KID beside the domain ones" std.json \
    "all(math.isfinite(j[k]['value']) and j[k]['generated'] == 8 and j[k]['real'] == 8 and 'Inception' in j[k]['feature_space'] for k in ['fid_inception', 'fid_lp_inception']) and math.isfinite(j['kid_inception']['mean']) and 'feature net' in j['fid']['feature_space']"
  grep -q "standard FID" eval.txt && pass "evaluate prints the standard FID" || bad "no standard FID line: $(tail -1 eval.txt)"
else
  bad "evaluate --fid-weights: $(tail -3 eval.txt)"
fi
expect_error "evaluate --fid-weights on two-moons" "are not images" $DPVAE evaluate dp --out x.json $SMALL --fid-weights w.safetensors
expect_error "evaluate with a missing weight file" "cannot open" $DPVAE evaluate img --out x.json $SMALL --fid-weights nosuch.safetensors

# --- reproduce on the tiny budget: a complete table; a second call reuses everything --------
if $DPVAE reproduce --dataset two-moons --budget tiny --out rep >rep.txt 2>&1; then pass "reproduce (tiny)"; else bad "reproduce: $(tail -3 rep.txt)"; fi
[ "$(grep -c '^| .*VAE' rep/table.md)" -ge 12 ] && pass "table.md has the 12 models" || bad "table.md: $(cat rep/table.md | head -20)"
[ "$(wc -l <rep/table.csv)" -eq 25 ] && pass "table.csv has a header and 24 rows (12 models, 6 × 2 ex-post samplers)" || bad "table.csv lines: $(wc -l <rep/table.csv)"
[ "$(grep -c '^| .* + ex-post GMM | [0-9]' rep/table.md)" -eq 6 ] && python3 -c "
import json, sys
j = json.load(open('rep/runs/beta-tc-standard/metrics.json'))['expost_gmm']
sys.exit(0 if j['components'] == 10 and j['fid']['value'] >= 0 and j['skl']['value'] == j['skl']['value'] else 1)" &&
  pass "reproduce: a + ex-post GMM row per objective (FID, FID(LP), sKL in metrics.json)" ||
  bad "ex-post GMM rows: $(grep -c 'ex-post GMM' rep/table.md)"
# The ex-post flow: a row per objective, every generation metric (NLL and leakage included) in
# metrics.json, and the LP samples under both estimates of q(z) for every sampler.
[ "$(grep -c '^| .* + ex-post flow | [0-9]' rep/table.md)" -eq 6 ] && grep -q '^| objective | FID < GMM' rep/table.md && python3 -c "
import json, math, sys
r = json.load(open('rep/runs/beta-tc-standard/metrics.json'))
f = r['expost_flow']
ok = f['blocks'] == 6 and f['steps'] == 100 and all(math.isfinite(f[k]['value']) for k in ['fid', 'fid_lp', 'fid_lp_minibatch', 'skl'])
ok = ok and math.isfinite(f['nll']['nats']) and len(f['leakage']['curve']) == 6 and math.isfinite(r['expost_gmm']['nll']['nats'])
ok = ok and all(math.isfinite(x['fid_lp_minibatch']['value']) and x['fid_lp_minibatch']['posteriors_per_group'] == 100 for x in [r, f, r['expost_gmm']])
d = r['fid_lp']['distance_from_q_mean']
ok = ok and d['lp']['median'] >= 0 and d['q']['p90'] >= d['q']['median']
sys.exit(0 if ok else 1)" &&
  pass "reproduce: a + ex-post flow row per objective; NLL, leakage and minibatch-q FID(LP) for every sampler" ||
  bad "ex-post flow rows: $(grep -c 'ex-post flow' rep/table.md)"
pngs_ok "reproduce figures" rep/figures/fig4-leakage.png rep/figures/fig3-vae.png rep/figures/fig3-factor.png
pngs_ok "the ex-post samplers' q(z) / density panels per standard-prior run" rep/figures/runs/info-standard-expost-gmm-latent.png \
  rep/figures/runs/info-standard-expost-flow-latent.png
$DPVAE reproduce --dataset two-moons --budget tiny --out rep >rep2.txt 2>&1 && [ "$(grep -c 'reusing' rep2.txt)" -eq 12 ] && \
  pass "a second reproduce reuses the 12 evaluations" || bad "reproduce rerun: $(grep -c reusing rep2.txt) reused"
# --seeds 2: the first seed's 12 runs reused, 12 more trained; entries mean ± sd, verdicts on paired seeds.
if $DPVAE reproduce --dataset two-moons --budget tiny --seeds 2 --out rep >rep3.txt 2>&1 && [ "$(grep -c 'reusing' rep3.txt)" -eq 12 ] &&
   [ -f rep/runs/vae-standard-seed2/metrics.json ] && grep -q '2 seeds, 1 to 2' rep/table.md &&
   [ "$(grep -c '^| .*VAE.* ± ' rep/table.md)" -ge 12 ] && grep -Eq '^\| vae \| (yes|no) \([0-2] of 2\)' rep/table.md &&
   [ "$(wc -l <rep/table.csv)" -eq 49 ]; then
  pass "reproduce --seeds 2: mean ± sd over paired seeds"
else
  bad "reproduce --seeds 2: $(tail -3 rep3.txt; grep -m3 '^| ' rep/table.md)"
fi
expect_error "reproduce --seeds 0" "--seeds" $DPVAE reproduce --dataset two-moons --budget tiny --seeds 0 --out rep
# A folder of other runs is never reused under a new header: another seed or length is refused.
expect_error "reproduce over runs of another seed" "holds a run with seed = 1 where this reproduce asks for 3" \
  $DPVAE reproduce --dataset two-moons --budget tiny --seed 3 --out rep
expect_error "reproduce over runs of another length" "holds a run with steps = 40 where this reproduce asks for 41" \
  $DPVAE reproduce --dataset two-moons --budget tiny --steps 41 --out rep

echo "$fails failure(s)"
[ "$fails" -eq 0 ]
