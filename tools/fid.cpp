// tools/fid.cpp — implementation of tools/fid.hpp.
#include "fid.hpp"

#include "evaluation.hpp"
#include "image_sets.hpp"
#include "io_util.hpp"

#include <dpvae/eval/inception.hpp>
#include <dpvae/eval/metrics.hpp>
#include <dpvae/io/safetensors.hpp>

#include <nlohmann/json.hpp>

#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <limits>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>

namespace dpvae::cli {

namespace {

using dpvae::detail::require;
constexpr const char* kGivenSpace = "as given (--features)";

/// Refuses an output path whose folder does not exist, or that names one of the inputs.
void check_output(const std::string& out, std::initializer_list<std::string> inputs, const std::string& what) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::path p(out), parent = p.has_parent_path() ? p.parent_path() : fs::path(".");
  require(fs::is_directory(parent, ec), "cannot write " + what + " " + out + ": no folder " + parent.string());
  require(!fs::is_directory(p, ec), "cannot write " + what + " " + out + ": it is a folder");
  for (const std::string& in : inputs)
    require(in.empty() || !fs::equivalent(p, in, ec), what + " " + out + " would overwrite an input");
}

/// An image set: n × (h·w·c) in [0, 1].
struct Images {
  Matrix<float> x;
  Index h = 0, w = 0, c = 0;
};

Images images_from_safetensors(const io::File& f, const std::string& path) {
  const io::Tensor& t = f.at("images", path);
  require(t.shape.size() == 4, path + ": tensor 'images' must be n × h × w × c (rows are images, channels last)");
  Images im;
  im.h = t.shape[1];
  im.w = t.shape[2];
  im.c = t.shape[3];
  require(t.shape[0] >= 1 && im.h >= 1 && im.w >= 1 && (im.c == 1 || im.c == 3),
          path + ": 'images' needs at least 1 image with 1 or 3 channels");
  im.x.resize(t.shape[0], im.h * im.w * im.c);
  t.copy_to(im.x.data(), im.x.size(), "images");
  require(im.x.allFinite() && im.x.minCoeff() >= 0.0f && im.x.maxCoeff() <= 1.0f,
          path + ": 'images' must hold values in [0, 1]");
  return im;
}

/// A safetensors "images" tensor as a source of one group.
ImageSource safetensors_source(Images im, const std::string& path) {
  auto x = std::make_shared<Images>(std::move(im));
  ImageSource s;
  s.count = x->x.rows();
  s.what = "images " + std::to_string(x->h) + "×" + std::to_string(x->w) + "×" + std::to_string(x->c) + " (" + path + ")";
  s.read = [x](Index begin, Index end) {
    ImageGroup g;
    g.h = x->h, g.w = x->w, g.c = x->c;
    g.x = x->x.middleRows(begin, end - begin);
    for (Index i = 0; i < end - begin; ++i) g.rows.push_back(i);
    return std::vector<ImageGroup>{std::move(g)};
  };
  return s;
}

/// One side of the comparison: features (n × F) or only their statistics.
struct Side {
  std::optional<Matrix<float>> features;
  std::optional<ImageSource> pending;  ///< images whose features are still to be computed
  GaussianFit fit;
  Index count = 0;
  std::string what, space;
};

Side load_side(const std::string& path, const FidOptions& o, std::optional<FidInception>& net) {
  Side s;
  std::optional<Images> im;
  if (path.size() > 12 && path.substr(path.size() - 12) == ".safetensors") {
    const io::File f = io::load(path);
    if (f.tensors.count("mu") || f.tensors.count("sigma")) {  // statistics (--save-stats)
      const io::Tensor &mu = f.at("mu", path), &sigma = f.at("sigma", path);
      require(mu.shape.size() == 1 && mu.shape[0] >= 1 && sigma.shape == std::vector<std::int64_t>{mu.shape[0], mu.shape[0]},
              path + ": statistics need mu (F values, F >= 1) and sigma (F × F)");
      s.fit.mean.resize(mu.shape[0]);
      s.fit.covariance.resize(mu.shape[0], mu.shape[0]);
      mu.copy_to(s.fit.mean.data(), mu.numel(), "mu");
      sigma.copy_to(s.fit.covariance.data(), sigma.numel(), "sigma");
      const Matrix<double>& c = s.fit.covariance;
      require(s.fit.mean.allFinite() && c.allFinite(), path + ": mu or sigma holds a non-finite value");
      const double scale = std::max(c.cwiseAbs().maxCoeff(), std::numeric_limits<double>::min());
      require((c - c.transpose()).cwiseAbs().maxCoeff() <= 1e-6 * scale, path + ": sigma is not symmetric");
      require(c.diagonal().minCoeff() >= 0, path + ": sigma has a negative variance: not a covariance");
      const auto count = f.metadata.find("count");
      if (count != f.metadata.end()) std::from_chars(count->second.data(), count->second.data() + count->second.size(), s.count);
      const auto space = f.metadata.find("feature_space");
      s.space = space != f.metadata.end() ? space->second : "unknown (no feature_space in the file)";
      s.what = "statistics";
      return s;
    }
    if (o.features) {
      const io::Tensor& t = f.at("features", path);
      require(t.shape.size() == 2 && t.shape[0] >= 2 && t.shape[1] >= 1, path + ": 'features' must be n × F with n >= 2, F >= 1");
      Matrix<float> x(t.shape[0], t.shape[1]);
      t.copy_to(x.data(), x.size(), "features");
      require(x.allFinite(), path + ": 'features' holds a non-finite value");
      // Covariances of values beyond 1e15 lose every digit in double (no feature net gives them).
      require(x.cwiseAbs().maxCoeff() <= 1e15f, path + ": 'features' holds values beyond 1e15");
      s.features = std::move(x);
      s.what = "features";
      s.space = kGivenSpace;
    } else {
      im = images_from_safetensors(f, path);
    }
  }
  if (im || !s.features) {  // images: opened and checked now, their features computed by finish_side
    s.pending = im ? safetensors_source(std::move(*im), path)
                   : open_image_source(path, ImageSourceOptions{o.run_samples, o.seed});
    require(s.pending->count >= 2, path + ": a set needs at least 2 images for its Gaussian fit");
    require(!o.weights.empty(), path + ": images need the FID Inception weights (--weights; scripts/convert-fid-inception.py)");
    if (!net) net.emplace(o.weights);
    s.what = s.pending->what;
    s.space = FidInception::kFeatureSpace;
    return s;
  }
  s.fit = fit_gaussian(*s.features);
  s.count = s.features->rows();
  return s;
}

/// The features and Gaussian fit of a side opened by load_side (nothing to do for features
/// and statistics).
void finish_side(Side& s, const std::string& path, const FidOptions& o, const FidInception* net) {
  if (!s.pending) return;
  const ImageSource& src = *s.pending;
  const auto t0 = std::chrono::steady_clock::now();
  s.features = inception_features(*net, src, o.batch, [&](Index done) {
    std::cout << "\rfid: " << path << ": " << done << "/" << src.count << " images" << std::flush;
  });
  std::cout << "  (" << static_cast<double>(src.count) / seconds_since(t0) << " images/s)" << std::endl;
  s.pending.reset();
  s.fit = fit_gaussian(*s.features);
  s.count = s.features->rows();
}

}  // namespace

Matrix<float> inception_features(const FidInception& net, const ImageSource& src, Index batch,
                                 const std::function<void(Index)>& progress) {
  require(batch >= 1, "--batch-size must be positive");
  Matrix<float> f(src.count, FidInception::kFeatures);
  const Index chunk = 8 * batch;
  for (Index b = 0; b < src.count; b += chunk) {
    const Index e = std::min(src.count, b + chunk);
    for (const ImageGroup& g : src.read(b, e)) {
      const Matrix<float> fg = net.features(g.x, g.h, g.w, g.c, batch);
      for (std::size_t r = 0; r < g.rows.size(); ++r) f.row(b + g.rows[r]) = fg.row(static_cast<Index>(r));
    }
    if (progress) progress(e);
  }
  return f;
}

int fid(const FidOptions& o) {
  if (!o.save_stats.empty()) check_output(o.save_stats, {o.a, o.b, o.weights}, "--save-stats");
  if (!o.json_out.empty()) {
    require(!o.b.empty(), "fid: --json needs two sets (A B)");
    check_output(o.json_out, {o.a, o.b, o.weights}, "--json");
  }
  require(!o.b.empty() || !o.save_stats.empty(), "fid: give two sets (A B), or --save-stats OUT with one");
  std::optional<FidInception> net;
  // Both sides are opened and checked (files, shapes, weights) before minutes of features.
  Side a = load_side(o.a, o, net);
  std::optional<Side> b_side;
  if (!o.b.empty()) b_side = load_side(o.b, o, net);
  finish_side(a, o.a, o, net ? &*net : nullptr);
  if (!o.save_stats.empty()) {
    io::File f;
    f.add("mu", io::Tensor::from(a.fit.mean.data(), {a.fit.mean.size()}));
    f.add("sigma", io::Tensor::from(a.fit.covariance.data(), {a.fit.covariance.rows(), a.fit.covariance.cols()}));
    f.metadata["count"] = std::to_string(a.count);
    f.metadata["feature_space"] = a.space;
    io::save(o.save_stats, f);
    std::cout << "fid: statistics of " << a.count << " " << a.what << " written to " << o.save_stats << std::endl;
    if (o.b.empty()) return 0;
  }
  require(!o.b.empty(), "fid: give two sets (A B), or --save-stats OUT with one");
  Side& b = *b_side;
  finish_side(b, o.b, o, net ? &*net : nullptr);
  require(a.fit.mean.size() == b.fit.mean.size(), "fid: the two sides have different feature sizes (" +
                                                      std::to_string(a.fit.mean.size()) + " vs " +
                                                      std::to_string(b.fit.mean.size()) + ")");
  require(a.space == b.space, "fid: the two sides come from different feature spaces (" + a.space + " vs " + b.space + ")");
  nlohmann::json j;
  j["fid"] = frechet_distance(a.fit, b.fit);
  require(std::isfinite(j["fid"].get<double>()),
          "fid: the distance is not finite (features too large for double precision?)");
  j["feature_space"] = a.space;
  j["a"] = {{"path", o.a}, {"count", a.count}, {"what", a.what}};
  j["b"] = {{"path", o.b}, {"count", b.count}, {"what", b.what}};
  std::string line = "FID " + std::to_string(j["fid"].get<double>()) + " (" + a.space + "; " +
                     std::to_string(a.count) + " vs " + std::to_string(b.count) + ")";
  if (a.features && b.features) {
    Rng rng(o.seed);
    const KernelDistance k = kernel_inception_distance(*a.features, *b.features, rng, o.kid_subsets, o.kid_subset_size);
    require(std::isfinite(k.mean) && std::isfinite(k.sd), "fid: KID is not finite (features too large for double precision?)");
    j["kid"] = {{"mean", k.mean}, {"sd", k.sd}, {"subsets", k.subsets}, {"subset_size", k.subset_size}};
    char buf[160];
    std::snprintf(buf, sizeof buf, "  KID %.6g ± %.2g (%lld subsets of %lld%s)", k.mean, k.sd,
                  static_cast<long long>(k.subsets), static_cast<long long>(k.subset_size),
                  k.subset_size < o.kid_subset_size ? ", the smaller set's size" : "");
    line += buf;
  }
  std::cout << line << std::endl;  // printed once everything is computed and checked
  if (!o.json_out.empty()) write_text_atomic(o.json_out, j.dump(2) + "\n");
  return 0;
}

int fid_features(const FidFeaturesOptions& o) {
  check_output(o.out, {o.images, o.weights}, "--out");
  if (!o.preprocessed_out.empty()) {
    check_output(o.preprocessed_out, {o.images, o.weights, o.out}, "--preprocessed-out");
    require(o.preprocessed_out != o.out, "--preprocessed-out and --out name the same file");
  }
  const FidInception net(o.weights);
  const Images im = images_from_safetensors(io::load(o.images), o.images);
  const auto t0 = std::chrono::steady_clock::now();
  const Matrix<float> f = net.features(im.x, im.h, im.w, im.c, o.batch);
  const double secs = seconds_since(t0);
  io::File out;
  out.add("features", io::Tensor::from(f.data(), {f.rows(), f.cols()}));
  io::save(o.out, out);
  if (!o.preprocessed_out.empty()) {
    const Matrix<float> p = FidInception::preprocess(im.x, im.h, im.w, im.c);
    io::File pf;
    pf.add("images", io::Tensor::from(p.data(), {p.rows(), FidInception::kInputSize, FidInception::kInputSize, 3}));
    io::save(o.preprocessed_out, pf);
  }
  std::printf("images/s: %.3f (%lld images %lldx%lldx%lld)\n", static_cast<double>(im.x.rows()) / secs,
              static_cast<long long>(im.x.rows()), static_cast<long long>(im.h), static_cast<long long>(im.w),
              static_cast<long long>(im.c));
  return 0;
}

}  // namespace dpvae::cli
