// tools/run_config.hpp — a training run's settings (config.json in the run folder), the
// hyperparameter presets of docs/math.md "Conventions and defaults" (derived from each
// objective's description, dpvae/objectives/registry.hpp), and data-set loading.
#pragma once

#include <dpvae/dpvae.hpp>

#include <dpvae/data/idx.hpp>
#include <dpvae/data/image_array.hpp>
#include <dpvae/data/two_moons.hpp>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <optional>
#include <set>
#include <string>

namespace dpvae::cli {

struct RunConfig {
  std::string dataset = "two-moons";  // two-moons, mnist, fashion-mnist, idx:DIR, svhn, celeba, folder:DIR, npy:FILE
  std::string data_root = "data";
  std::string objective = "vae";
  std::string prior = "decoupled";
  std::string preset = "default";
  std::int64_t steps = 1000;
  std::int64_t batch_size = 100;
  std::uint64_t seed = 1;
  int threads = 0;  // 0: all cores
  double lr = 1e-4;
  HyperparameterValues hyper;  // the objective's hyperparameters (config.json: flat keys)
  std::int64_t latent_dim = 2;
  std::int64_t flow_blocks = 6;
  std::string likelihood = "bernoulli";  // bernoulli or gaussian
  double likelihood_weight = 1.0;        // w of the Gaussian
  std::int64_t sample_every = 0;         // 0: five times per run
  std::int64_t checkpoint_every = 1000;
  std::int64_t log_every = 100;
  std::int64_t keep_checkpoints = 2;
  bool skip_nonfinite = false;  // skip (and count) steps with a non-finite loss or gradient
  // Image data sets (docs/data.md): keys added with them, absent from older run folders.
  std::int64_t image_size = 0;      // folder: resize (centre square crop) to S × S, 0: keep; celeba: S (0: 64)
  std::int64_t image_channels = 3;  // folder: 3 (RGB) or 1 (grey)
  double held_out = 0.1;            // folder, npy: fraction held out as the test set
  std::string labels;               // npy: an .npy label vector (optional)
  bool skip_bad_images = false;     // leave out (and count) unreadable or wrong-sized image files

  nlohmann::json to_json() const;
  static RunConfig from_json(const nlohmann::json& j, const std::string& where);
  /// Throws dpvae::Error stating the rule for the first out-of-range value.
  void validate() const;
  ModelConfig model_config(const Architecture& arch, double dataset_size) const;
};

/// The config.json keys of the settings a user set explicitly (they override presets): lr,
/// batch_size, likelihood, likelihood_weight and hyperparameter keys.
using Overrides = std::set<std::string>;

/// Applies a preset ("default": the regularizers' own papers, or "official": the official
/// code's configuration) for cfg.objective and cfg.dataset to every value not in `set`;
/// cfg.hyper keeps the user's values for the keys in `set`. Throws dpvae::Error for an
/// unknown preset or objective.
void apply_preset(RunConfig& cfg, const Overrides& set);

/// cfg.dataset's path (folder:DIR, npy:FILE, idx:DIR) and cfg.labels made absolute and
/// normalised, so that a run resumes, samples and finds its decoded-set cache from any working
/// folder; other data sets are left as they are.
void absolute_data_paths(RunConfig& cfg);

/// A data set's points, one per row: floats (two-moons, IDX sets), or an image set kept as
/// bytes (docs/data.md "Images in memory"), whose rows become x = byte / 255 in [0, 1] only
/// when they are asked for, a block or a minibatch at a time.
class Points {
 public:
  Points() = default;
  explicit Points(Matrix<float> x) : x_(std::move(x)) {}
  explicit Points(data::ImageArray a) : a_(std::move(a)), bytes_(true) {}

  Index rows() const { return bytes_ ? a_.count : x_.rows(); }
  Index cols() const { return bytes_ ? a_.dim() : x_.cols(); }
  /// True when the points are held as bytes.
  bool bytes() const { return bytes_; }
  /// Rows [begin, begin + n) as floats. Throws dpvae::Error for rows outside the set.
  Matrix<float> block(Index begin, Index n) const {
    dpvae::detail::require(begin >= 0 && n >= 0 && begin + n <= rows(), "Points::block: rows out of range");
    return bytes_ ? a_.to_float(begin, begin + n) : Matrix<float>(x_.middleRows(begin, n));
  }
  /// Every row as floats (for small sets: two-moons, plots).
  Matrix<float> all() const { return block(0, rows()); }
  /// The rows `idx`, in that order, as floats.
  Matrix<float> gather(const std::vector<Index>& idx) const {
    Matrix<float> out;
    gather_into(idx.data(), static_cast<Index>(idx.size()), out);
    return out;
  }
  /// The n rows idx[0..n) into `out` (resized; no allocation when its size is unchanged).
  void gather_into(const std::int64_t* idx, Index n, Matrix<float>& out) const {
    out.resize(n, cols());
    for (Index i = 0; i < n; ++i) {
      const Index r = idx[i];
      dpvae::detail::require(r >= 0 && r < rows(), "Points::gather: row out of range");
      if (bytes_) {
        const std::uint8_t* p = a_.image(r);
        float* t = out.data() + i * cols();  // row-major
        for (Index k = 0; k < cols(); ++k) t[k] = static_cast<float>(p[k]) / 255.0f;
      } else {
        out.row(i) = x_.row(r);
      }
    }
  }

 private:
  Matrix<float> x_;
  data::ImageArray a_;
  bool bytes_ = false;
};

/// A data set in dpvae's layout: rows are points; images channels last in [0, 1].
struct Data {
  std::string name;
  Points train, test;
  std::vector<int> train_labels, test_labels;
  std::vector<double> train_position, test_position;  // two-moons: place along the moon, in [0, 1]
  bool images = false;
  Index height = 0, width = 0, channels = 0;
  Architecture architecture(Index latent_dim) const;
};

/// Loads cfg.dataset (docs/data.md): two-moons is generated from cfg.seed; mnist and
/// fashion-mnist are read from data_root/<name>, idx:DIR from DIR; svhn from data_root/svhn
/// (train_32x32.mat, test_32x32.mat); celeba from data_root/celeba (its training and test
/// splits); folder:DIR and npy:FILE with a held-out split of cfg.held_out (load_image_data).
/// Throws dpvae::Error naming what is missing and how to get it.
Data load_data(const RunConfig& cfg);

/// load_data's image data sets (svhn, celeba, folder:DIR, npy:FILE). The held-out split of a
/// folder or array is drawn with the fixed seed kHeldOutSeed, not cfg.seed, so that every run
/// on the same images is tested on the same ones.
Data load_image_data(const RunConfig& cfg);
inline constexpr std::uint64_t kHeldOutSeed = 20200409;

}  // namespace dpvae::cli
