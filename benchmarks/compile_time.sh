#!/usr/bin/env bash
# benchmarks/compile_time.sh — how long a downstream translation unit takes to compile, with
# the two ways of using dpvae's models, measured in one run (interleaved, best of N):
#   typed        #include <dpvae/dpvae.hpp>, DpVae<BetaTC, Coupling<6>> and DpVae<BetaTC,
#                Prior<StandardNormal>> trained and saved: every model member is compiled here;
#   precompiled  #include <dpvae/any_model.hpp>, the same two models by make_model and saved:
#                the model types live in dpvae::models (compiled once, with dpvae).
# Writes benchmarks/results/compile_time.md.   compile_time.sh [REPEATS=3] [CXX=g++]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
repeats=${1:-3}
cxx=${CXX:-g++}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat >"$work/typed.cpp" <<'CPP'
#include <dpvae/dpvae.hpp>
int main() {
  const auto config = dpvae::ModelConfig::images(28, 28, 1, 10, 60000);
  dpvae::DpVae<dpvae::BetaTC, dpvae::Coupling<6>> a(config);
  dpvae::DpVae<dpvae::BetaTC, dpvae::Prior<dpvae::StandardNormal>> b(config);
  const dpvae::Matrix<float> x = dpvae::Matrix<float>::Zero(64, 784);
  a.train_step(x);
  b.train_step(x);
  dpvae::save(a, "a.safetensors");
  dpvae::save(b, "b.safetensors");
}
CPP
cat >"$work/precompiled.cpp" <<'CPP'
#include <dpvae/any_model.hpp>
int main() {
  const auto config = dpvae::ModelConfig::images(28, 28, 1, 10, 60000);
  auto a = dpvae::make_model("beta-tc", "decoupled", config);
  auto b = dpvae::make_model("beta-tc", "standard", config);
  const dpvae::Matrix<float> x = dpvae::Matrix<float>::Zero(64, 784);
  a->train_step(x);
  b->train_step(x);
  a->save("a.safetensors");
  b->save("b.safetensors");
}
CPP
flags=(-std=c++20 -O2 -march=native -I"$root/include" -isystem /usr/include/eigen3 -c)
declare -A best
for ((r = 0; r < repeats; ++r)); do
  for way in typed precompiled; do
    s=$(date +%s.%N)
    "$cxx" "${flags[@]}" "$work/$way.cpp" -o "$work/$way.o"
    t=$(echo "$(date +%s.%N) - $s" | bc)
    echo "$way: $t s"
    if [ -z "${best[$way]:-}" ] || (($(echo "$t < ${best[$way]}" | bc))); then best[$way]=$t; fi
  done
done
out=$root/benchmarks/results/compile_time.md
{
  echo "# Compile time of a downstream translation unit (benchmarks/compile_time.sh)"
  echo
  echo "$("$cxx" --version | head -1), -O2 -march=native (what linking dpvae::models implies), best of $repeats, interleaved; $(nproc) cores, $(date -u +%Y-%m-%d)."
  echo
  echo "| way | seconds |"
  echo "|---|---|"
  printf '| typed: DpVae<BetaTC, Coupling<6>> + DpVae<BetaTC, Prior<StandardNormal>>, dpvae/dpvae.hpp | %.1f |\n' "${best[typed]}"
  printf '| precompiled: make_model of the same two, dpvae/any_model.hpp (link dpvae::models) | %.1f |\n' "${best[precompiled]}"
} >"$out"
cat "$out"
