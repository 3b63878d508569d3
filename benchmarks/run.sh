#!/usr/bin/env bash
# benchmarks/run.sh — builds the benchmark binaries, runs them all, prints a table and writes
# benchmarks/results/*.json and benchmarks/results/summary.md.
#
#   benchmarks/run.sh [--quick] [--metrics-only]
#
# Steps: (1) bench_train_step: every objective × prior on MNIST and two-moons (batch 100), the
# colour nets of SVHN and CelebA (batch 50; VAE, β-TCVAE, FactorVAE, InfoVAE), the 1-thread
# runs and the reference GEMM, repetitions interleaved at random (train_step.json);
# (2) when PyTorch is importable (benchmarks/setup-pytorch.sh): export_reference writes the
# models, a batch and dpvae's loss and gradients, pytorch_reference.py checks that PyTorch
# computes the same (pytorch_check.json), then dpvae and PyTorch train the same models in
# alternating rounds (vs_pytorch_*.json); (3) bench_metrics: aggregate posterior, NLL and FID
# at three sizes each, one pass (metrics.json), and the NLL cases again with glibc's malloc
# keeping freed memory (metrics_malloc_retain.json); (4) summarize.py writes summary.md.
# --quick: fewer repetitions, shorter runs, and bench_metrics without its two slowest cases
# (about 1 min instead of 1.5). --metrics-only: step (3) and (4) alone, leaving the other
# results and context.json (the training-step run's) as they are.
# Environment: DPVAE_BENCH_BUILD (build folder, default build-bench), PYTHON (an
# interpreter with torch; default: python3 if it has torch, else /usr/bin/python3),
# OMP_WAIT_POLICY for PyTorch (default: unset, PyTorch's own default, which is the peer's best
# on an idle machine: PASSIVE measured 20–40 % slower there; set PASSIVE only on a machine
# so loaded that spinning OpenMP threads are descheduled, and say so with the figures).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${DPVAE_BENCH_BUILD:-$root/build-bench}
results=$root/benchmarks/results
quick=0; metrics_only=0
for a in "$@"; do
  case $a in
    --quick) quick=1 ;;
    --metrics-only) metrics_only=1 ;;
    *) echo "usage: $0 [--quick] [--metrics-only]" >&2; exit 2 ;;
  esac
done
reps=5; min_time=1; rounds=3
[ $quick = 1 ] && { reps=2; min_time=0.3; rounds=1; }
mkdir -p "$results"

started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
load_start=$(cut -d' ' -f1-3 /proc/loadavg)

echo "== build ($build)"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDPVAE_BUILD_TESTS=OFF \
  -DDPVAE_BUILD_TOOLS=OFF -DDPVAE_BUILD_EXAMPLES=OFF -DDPVAE_BUILD_BENCHMARKS=ON >/dev/null
cmake --build "$build" --target bench_train_step export_reference bench_metrics -j2

# The peer at its best: Debian's python3-torch takes whatever provides libblas.so.3, and with
# the reference BLAS (what apt picks without libopenblas0-pthread) its GEMMs run ~15× slower
# (6 against 92 GFLOP/s, one thread, measured here): a handicapped PyTorch is a fake result,
# so the run stops before any timing when torch's GEMM is that slow.
py=${PYTHON:-}
if [ -z "$py" ]; then
  for c in python3 /usr/bin/python3; do
    if "$c" -c 'import torch' 2>/dev/null; then py=$c; break; fi
  done
fi
if [ -n "$py" ] && [ $metrics_only = 0 ]; then
  gflops=$(OPENBLAS_NUM_THREADS=1 "$py" -c '
import time, torch
torch.set_num_threads(1)
a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
torch.mm(a, b)
t = time.perf_counter()
for _ in range(5): torch.mm(a, b)
print(int(5 * 2 * 1024 ** 3 / (time.perf_counter() - t) / 1e9))')
  echo "== PyTorch's GEMM, 1 thread: $gflops GFLOP/s"
  if [ "$gflops" -lt 20 ]; then
    echo "run.sh: PyTorch's GEMM runs at $gflops GFLOP/s (the reference BLAS?); install a tuned one" \
         "(benchmarks/setup-pytorch.sh: libopenblas0-pthread) so that the peer is at its best" >&2
    exit 2
  fi
fi

# Time and peak memory of the metrics (bench_metrics): one pass, each case's time as measured.
run_metrics() {
  local m=$build/benchmarks/bench_metrics filter=.
  [ $quick = 1 ] && filter='-N:100000/|nll_unbatched'
  local ctx="commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  ctx="$ctx$(git -C "$root" diff --quiet -- . ":(exclude)benchmarks/results" 2>/dev/null || echo +dirty),quick=$quick"
  echo "== metrics: aggregate posterior, NLL, FID (one pass)"
  "$m" --benchmark_filter="$filter" --benchmark_min_time=$min_time --benchmark_context="$ctx" \
    --benchmark_out="$results/metrics.json.tmp" --benchmark_out_format=json
  mv "$results/metrics.json.tmp" "$results/metrics.json"
  # The same NLL cases with glibc's malloc keeping freed memory (heap blocks up to 32 MiB, no
  # trimming) instead of handing it back to the kernel: DpVae's inference path allocates its
  # buffers anew per call, and each call then faults them in again (see summary.md).
  echo "== metrics: NLL with MALLOC_MMAP_THRESHOLD_=32 MiB, MALLOC_TRIM_THRESHOLD_=1 GiB"
  MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1073741824 \
    "$m" --benchmark_filter='^metrics/nll/' --benchmark_min_time=$min_time --benchmark_context="$ctx" \
    --benchmark_out="$results/metrics_malloc_retain.json.tmp" --benchmark_out_format=json
  mv "$results/metrics_malloc_retain.json.tmp" "$results/metrics_malloc_retain.json"
}
if [ $metrics_only = 1 ]; then
  run_metrics
  echo "== summary ($results/summary.md)"
  python3 "$root/benchmarks/summarize.py" "$results"
  exit 0
fi

bench=$build/benchmarks/bench_train_step
echo "== training step, FLOP fraction ($reps interleaved repetitions)"
"$bench" --benchmark_repetitions=$reps --benchmark_enable_random_interleaving=true \
  --benchmark_min_time=$min_time --benchmark_out="$results/train_step.json.tmp" \
  --benchmark_out_format=json --benchmark_display_aggregates_only=true
mv "$results/train_step.json.tmp" "$results/train_step.json"

rm -f "$results"/vs_pytorch_*.json
if [ -n "$py" ]; then
  export OPENBLAS_NUM_THREADS=1
  ref=$(mktemp -d)
  trap 'rm -rf "$ref"' EXIT
  echo "== same work: loss and gradients, dpvae vs PyTorch"
  "$build/benchmarks/export_reference" "$ref" >/dev/null
  "$py" "$root/benchmarks/pytorch_reference.py" check "$ref" --out "$results/pytorch_check.json"
  filter='train/(mnist|moons|svhn|celeba)/(vae|beta-tc|factor|info)/(standard|decoupled)/threads:2'
  for r in $(seq 1 $rounds); do
    echo "== against PyTorch, round $r of $rounds: dpvae"
    "$bench" --benchmark_filter="$filter" --benchmark_min_time=$min_time \
      --benchmark_out="$results/vs_pytorch_dpvae_$r.json" --benchmark_out_format=json
    echo "== against PyTorch, round $r of $rounds: PyTorch"
    "$py" "$root/benchmarks/pytorch_reference.py" time "$ref" --threads 2 --seconds $min_time \
      --steps-conv $([ $quick = 1 ] && echo 3 || echo 8) --out "$results/vs_pytorch_torch_$r.json"
  done
  echo "== against PyTorch, 1 thread (CPU time per step)"
  "$py" "$root/benchmarks/pytorch_reference.py" time "$ref" --threads 1 --seconds $min_time --filter 'mnist-vae' \
    --steps-conv $([ $quick = 1 ] && echo 3 || echo 8) --out "$results/vs_pytorch_torch1thread.json"
else
  echo "== PyTorch not importable: skipping the comparison (see benchmarks/setup-pytorch.sh)"
fi

run_metrics

# == images: decoding rate and loading memory ------------------------------------------------
# dpvae::images against PIL on the same CelebA-like JPEGs, and the peak memory of loading a
# folder (with and without the decoded-set cache): benchmarks/run_images.sh, which also runs
# alone, writes results/images.json. 3 min on the 2 idle-ish cores, 6 under load (--quick: 1 min).
echo "== images: decoding rate against PIL, loading peak memory (run_images.sh)"
DPVAE_BENCH_BUILD="$build" "$root/benchmarks/run_images.sh" $([ $quick = 1 ] && echo --quick) \
  --out "$results/images.json"
# == end of images ---------------------------------------------------------------------------

finished=$(date -u +%Y-%m-%dT%H:%M:%SZ)
cat > "$results/context.json.tmp" <<JSON
{"started": "$started", "finished": "$finished", "load_start": "$load_start",
 "load_end": "$(cut -d' ' -f1-3 /proc/loadavg)", "cores": $(nproc),
 "cpu": "$(lscpu | sed -n 's/^Model name: *//p' | head -1)",
 "commit": "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$root" diff --quiet -- . ":(exclude)benchmarks/results" 2>/dev/null || echo +dirty)"}
JSON
mv "$results/context.json.tmp" "$results/context.json"
echo "== summary ($results/summary.md)"
python3 "$root/benchmarks/summarize.py" "$results"
