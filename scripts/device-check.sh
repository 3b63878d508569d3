#!/usr/bin/env bash
# One prepared GPU check for the CUDA backend, for a machine with an NVIDIA GPU:
# checks the tools, configures (Release, CUDA on, only what is needed), builds
# dpvae_cuda_tests and bench_cuda_train_step, runs both, and writes
#   $OUT/device.txt          nvidia-smi's name, driver, compute capability
#   $OUT/cuda_tests.txt      the test binary's output (and its exit status)
#   $OUT/bench_cuda.json/.md the training-step benchmark
#   $OUT/summary.md          all of it in one page
# ($OUT defaults to ./device-check-out). Usage: scripts/device-check.sh [BUILD_DIR]
# Exit status: 0 all passed, 1 tests or benchmark failed, 3 missing tools or headers.
# Sized to finish in about 3 minutes on 16 cores (configure ~20 s, build ~1 min, tests and
# benchmark ~1 min); each step has its own time limit.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 3
build=${1:-build-device}
out=${OUT:-$PWD/device-check-out}
mkdir -p "$out"
start=$(date +%s)
log() { echo "[device-check $(( $(date +%s) - start ))s] $*"; }

# --- tools and headers ------------------------------------------------------------------
export PATH="/usr/local/cuda/bin:$PATH"
if ! command -v nvcc >/dev/null 2>&1; then  # a versioned toolkit folder without the /usr/local/cuda link
  for d in /usr/local/cuda-*/bin; do [ -x "$d/nvcc" ] && export PATH="$d:$PATH" && break; done
fi
missing=()
for c in cmake g++ nvcc nvidia-smi; do command -v "$c" >/dev/null 2>&1 || missing+=("command:$c"); done
check_header() {  # name, then candidate paths
  local name=$1; shift
  for p in "$@"; do [ -e "$p" ] && return 0; done
  missing+=("$name")
}
check_header "Eigen 3.4 (libeigen3-dev)" /usr/include/eigen3/Eigen/Core /usr/local/include/eigen3/Eigen/Core
check_header "oneTBB (libtbb-dev)" /usr/include/oneapi/tbb.h /usr/include/tbb/tbb.h /usr/local/include/oneapi/tbb.h
check_header "nlohmann-json (nlohmann-json3-dev)" /usr/include/nlohmann/json.hpp /usr/local/include/nlohmann/json.hpp
check_header "zlib (zlib1g-dev)" /usr/include/zlib.h
check_header "doctest (doctest-dev)" /usr/include/doctest/doctest.h /usr/local/include/doctest/doctest.h
nvcc_dir=$(dirname "$(command -v nvcc 2>/dev/null || echo /usr/local/cuda/bin/nvcc)")
check_header "cuBLAS headers" "$nvcc_dir/../include/cublas_v2.h" /usr/local/cuda/include/cublas_v2.h /usr/include/cublas_v2.h
generator=()
if command -v ninja >/dev/null 2>&1; then generator=(-G Ninja); else log "ninja not found: using Makefiles"; fi
if [ ${#missing[@]} -gt 0 ]; then
  log "MISSING: ${missing[*]}"
  log "on Debian 12: scripts/install-deps.sh (needs the network), and a CUDA toolkit at /usr/local/cuda"
  printf 'device-check: missing %s\n' "${missing[*]}" > "$out/summary.md"
  exit 3
fi

# --- device -----------------------------------------------------------------------------
nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv | tee "$out/device.txt"
cap=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
case "$cap" in ''|*[!0-9]*) cap=90 ;; esac
log "building for compute capability $cap (sm_$cap code + compute_$cap PTX)"

# --- configure and build ------------------------------------------------------------------
jobs=$(nproc)
timeout 120 cmake -S . -B "$build" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DDPVAE_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$cap" -DDPVAE_BUILD_TOOLS=OFF -DDPVAE_BUILD_EXAMPLES=OFF \
  -DDPVAE_BUILD_TESTS=ON -DDPVAE_BUILD_BENCHMARKS=ON > "$out/configure.txt" 2>&1
rc=$?
grep -E "dpvae:|CUDA" "$out/configure.txt"
if [ $rc -ne 0 ] || ! grep -q "CUDA backend enabled" "$out/configure.txt"; then
  log "configure failed or did not enable CUDA (rc $rc); see $out/configure.txt"
  tail -30 "$out/configure.txt"
  exit 1
fi
log "configured"
timeout 300 cmake --build "$build" --target dpvae_cuda_tests bench_cuda_train_step -j "$jobs" > "$out/build.txt" 2>&1
rc=$?
if [ $rc -ne 0 ]; then
  log "build failed (rc $rc); see $out/build.txt"
  tail -40 "$out/build.txt"
  exit 1
fi
log "built"

# --- tests and benchmark ----------------------------------------------------------------------
timeout 240 "$build/tests/cuda/dpvae_cuda_tests" --no-intro --force-colors=false --duration=true \
  > "$out/cuda_tests.txt" 2>&1
test_rc=$?
echo "exit status: $test_rc" >> "$out/cuda_tests.txt"
tail -25 "$out/cuda_tests.txt"
log "tests: exit status $test_rc (0 passed, 77 no device, other failed)"

timeout 180 "$build/benchmarks/cuda/bench_cuda_train_step" --steps 30 --warmup 3 \
  --json "$out/bench_cuda.json" --markdown "$out/bench_cuda.md" > "$out/bench_cuda.txt" 2>&1
bench_rc=$?
cat "$out/bench_cuda.txt"
log "benchmark: exit status $bench_rc"

{
  echo "# dpvae CUDA device check"
  echo
  echo "Commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown); $(date -u +%Y-%m-%dT%H:%M:%SZ); total $(( $(date +%s) - start )) s"
  echo
  echo '```'
  cat "$out/device.txt"
  echo '```'
  echo
  echo "## dpvae_cuda_tests: exit status $test_rc"
  echo
  echo '```'
  grep -E "test cases|assertions|SKIPPED|ERROR|FAILED|device 0" "$out/cuda_tests.txt"
  echo '```'
  echo
  if [ -f "$out/bench_cuda.md" ]; then cat "$out/bench_cuda.md"; else echo "benchmark: exit status $bench_rc"; fi
} > "$out/summary.md"
log "wrote $out/summary.md"
[ $test_rc -eq 0 ] && [ $bench_rc -eq 0 ] && exit 0
exit 1
