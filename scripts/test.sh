#!/usr/bin/env bash
# Configure, build (Release) and run the whole test suite: scripts/test.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
# The tests, benchmarks and examples are switched on explicitly: the folder may hold a cache
# in which they are off (scripts/main-job.sh builds the program alone in build/), and a
# cached OFF would otherwise leave ctest with nothing to run. No tests found is a failure.
# shellcheck disable=SC2086
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DDPVAE_BUILD_TESTS=ON -DDPVAE_BUILD_BENCHMARKS=ON -DDPVAE_BUILD_EXAMPLES=ON -DDPVAE_BUILD_TOOLS=ON ${DPVAE_CMAKE_ARGS:-}
cmake --build "$build" -j "$(nproc)"
ctest --test-dir "$build" --output-on-failure --no-tests=error -j "$(nproc)"
