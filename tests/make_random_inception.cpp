// make_random_inception OUT [SEED]: writes a FID Inception weight file of the real layout with
// random weights (tests/inception_weights.hpp), for the command-line tests of `dpvae fid` and
// `dpvae evaluate --fid-weights` on machines without the real weights.
#include "inception_weights.hpp"

#include <cstdio>
#include <cstdlib>
#include <string>

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: make_random_inception OUT [SEED]\n");
    return 2;
  }
  try {
    dpvae::Rng rng(argc == 3 ? std::stoull(argv[2]) : 1);
    dpvae::io::save(argv[1], dpvae::test::random_inception(rng));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_random_inception: %s\n", e.what());
    return 2;
  }
  return 0;
}
