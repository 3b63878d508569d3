// tools/reproduce.hpp — `dpvae reproduce`: the paper's Table 1 for one data set. The
// budgets (tiny, quick, paper), the 12 runs (six objectives × two priors; trained, resumed or
// reused), their evaluations, table.md and table.csv, and the paired figures.
#pragma once

#include "comm.hpp"
#include "run_config.hpp"

#include <cstdint>
#include <filesystem>
#include <string>

namespace dpvae::cli {

struct ReproduceOptions {
  std::string dataset = "mnist";
  std::string budget = "quick";  ///< quick or paper
  std::string preset = "official";
  std::string data_root = "data";
  std::filesystem::path out;
  int threads = 0;
  std::uint64_t seed = 1;        ///< the first seed; seeds seed, seed + 1, …, seed + seeds − 1
  int seeds = 1;                 ///< models per (objective, prior): every table entry is a mean ± sd over them
  std::int64_t steps = 0;        ///< training steps per model (0: the budget's)
  std::filesystem::path fid_weights{};  ///< when set, standard FID / FID(LP) columns (evaluate's --fid-weights)
  std::int64_t standard_fid_samples = 2000;
  /// The image-set options of `train` (image_size, image_channels, held_out, labels,
  /// skip_bad_images), taken from here for every model; the other fields are unused.
  RunConfig images;
};

/// Trains (or resumes, or reuses) the 12 models per seed, evaluates them, and writes
/// table.md, table.csv and the figures into o.out. Returns 0; throws dpvae::Error on bad
/// input or a failed run.
///
/// With `comm` of K > 1 ranks (dpvae_mpi under mpirun), whole models go to ranks: rank 0
/// trains the feature net while the others wait, then the models (objective × prior × seed)
/// are dealt out by a fixed rule (longest first, each to the rank with the least work so far,
/// from each model's steps × batch size, 0 once evaluated), every rank trains and evaluates its own with
/// o.threads threads, rank 0 gathers the metrics and alone writes the table and figures.
/// Every model's result depends on its seed only, so K ranks write the same table.md and
/// table.csv as one, byte for byte but for the wall-time line (README, "reproduce on many
/// machines"). o.out must be one folder every rank sees (a shared file system).
int reproduce(const ReproduceOptions& o, Comm& comm);

}  // namespace dpvae::cli
