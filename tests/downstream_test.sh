#!/usr/bin/env bash
# A downstream project built against dpvae as a sub-project (add_subdirectory) and as an
# installed package (find_package), with the parent's settings checked unchanged
# (tests/downstream/CMakeLists.txt).   downstream_test.sh SOURCE_DIR WORK_DIR [BUILD_DIR]
# With BUILD_DIR (ctest passes dpvae's own build), the package is that build installed — its
# dpvae::models and, where nvcc was found, dpvae::cuda — instead of a fresh library-only build
# (which would compile dpvae::models again: minutes on 2 cores).
set -euo pipefail
src=$(cd "$1" && pwd)
work=$2
rm -rf "$work" && mkdir -p "$work"
gen=(-G Ninja)
echo "== as a sub-project"
cmake -S "$src/tests/downstream" -B "$work/sub" "${gen[@]}" -DDPVAE_WAY=subproject -DDPVAE_SOURCE="$src" >"$work/sub.log"
cmake --build "$work/sub" >>"$work/sub.log"
"$work/sub/core_app" && "$work/sub/app"
cmake --install "$work/sub" --prefix "$work/sub-prefix" >>"$work/sub.log"
if [ -e "$work/sub-prefix/include/dpvae" ] || [ -e "$work/sub-prefix/lib/cmake/dpvae" ]; then
  echo "FAIL: installing the parent also installed dpvae"; exit 1
fi
[ -x "$work/sub-prefix/bin/app" ] || { echo "FAIL: the parent's own install rule did not run"; exit 1; }
echo "ok: the parent's build type, languages, targets and install rules are its own"
echo "== as an installed package"
if [ $# -ge 3 ]; then
  cmake --install "$3" --prefix "$work/prefix" >"$work/pkg.log"
else
  cmake -S "$src" -B "$work/dpvae-build" "${gen[@]}" -DDPVAE_BUILD_TOOLS=OFF -DDPVAE_BUILD_TESTS=OFF \
        -DDPVAE_BUILD_EXAMPLES=OFF -DDPVAE_BUILD_BENCHMARKS=OFF -DDPVAE_CUDA=OFF -DDPVAE_MPI=OFF >"$work/pkg.log"
  cmake --build "$work/dpvae-build" >>"$work/pkg.log"
  cmake --install "$work/dpvae-build" --prefix "$work/prefix" >>"$work/pkg.log"
fi
cmake -S "$src/tests/downstream" -B "$work/pkg" "${gen[@]}" -DDPVAE_WAY=package -DCMAKE_PREFIX_PATH="$work/prefix" >>"$work/pkg.log"
cmake --build "$work/pkg" >>"$work/pkg.log"
"$work/pkg/core_app" && "$work/pkg/app" && "$work/pkg/models_app"
grep -q "downstream: the install has dpvae::cuda" "$work/pkg.log" && echo "ok: the install's dpvae::cuda is found"
echo "ok: find_package(dpvae) gives dpvae::dpvae, core, io, data, native, models"
