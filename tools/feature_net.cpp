// tools/feature_net.cpp — implementation of tools/feature_net.hpp.
#include "feature_net.hpp"

#include <algorithm>
#include <chrono>
#include <iomanip>
#include <iostream>
#include <sstream>

namespace dpvae::cli {

namespace fs = std::filesystem;
using dpvae::detail::require;

void rotate_images(Matrix<float>& x, Index h, Index w, Index c, const std::vector<int>& k) {
  std::vector<float> tmp(static_cast<std::size_t>(h * w * c));
  for (Index i = 0; i < x.rows(); ++i) {
    const int r = k[static_cast<std::size_t>(i)];
    require(r >= 0 && r <= 3 && (r % 2 == 0 || h == w), "rotate_images: k must be 0..3, and 0 or 2 for non-square images");
    if (r == 0) continue;
    float* img = x.data() + i * x.cols();
    std::copy(img, img + h * w * c, tmp.begin());
    for (Index y = 0; y < h; ++y)
      for (Index xx = 0; xx < w; ++xx) {
        Index sy = y, sx = xx;  // the source pixel of output (y, xx)
        if (r == 1) sy = xx, sx = w - 1 - y;
        else if (r == 2) sy = h - 1 - y, sx = w - 1 - xx;
        else sy = h - 1 - xx, sx = y;
        std::copy_n(tmp.data() + (sy * w + sx) * c, c, img + (y * w + xx) * c);
      }
  }
}


fs::path default_feature_net(const RunConfig& cfg) {
  std::string name = cfg.dataset;
  for (const char* kind : {"idx", "folder", "npy"}) {
    const std::string prefix = std::string(kind) + ":";
    if (name.rfind(prefix, 0) == 0) {
      fs::path p = fs::path(name.substr(prefix.size())).lexically_normal();
      if (p.filename().empty()) p = p.parent_path();
      name = std::string(kind) + "-" + (prefix == "npy:" ? p.stem() : p.filename()).string();
      break;
    }
  }
  return fs::path(cfg.data_root) / "feature-nets" / (name + ".safetensors");
}

FeatureSpace feature_space(const Data& data, const fs::path& path, const FeatureNetOptions& o) {
  using Clock = std::chrono::steady_clock;
  FeatureSpace fs_;
  if (!data.images) {
    fs_.name = "data space (" + std::to_string(data.train.cols()) + "-D points, identity features)";
    fs_.extract = [](const Matrix<float>& x) { return x; };
    return fs_;
  }
  // A labelled set trains a classifier of its classes. An unlabelled one (CelebA, a flat folder)
  // trains one of the rotation applied to each image, a self-supervised task that needs the
  // image's content to solve (Gidaris et al., ICLR 2018): 0°, 90°, 180°, 270° for square
  // images, 0° and 180° otherwise (docs/metrics.md "The domain feature space").
  const bool rotation = data.train_labels.empty() || data.test_labels.empty();
  const int rotations = data.height == data.width ? 4 : 2;
  int max_label = 0;
  for (int v : data.train_labels) max_label = std::max(max_label, v);
  FeatureNetConfig c;
  c.height = data.height, c.width = data.width, c.channels = data.channels, c.data_dim = data.train.cols();
  c.classes = rotation ? rotations : std::max(2, max_label + 1);
  // The rotation drawn for row i of a batch; k · (4 / rotations) maps 0/1 to 0°/180°.
  const auto rotate = [&](Matrix<float>& x, const std::vector<int>& y) {
    std::vector<int> k(y.size());
    for (std::size_t i = 0; i < y.size(); ++i) k[i] = y[i] * (4 / rotations);
    rotate_images(x, data.height, data.width, data.channels, k);
  };
  c.dataset = data.name;
  auto net = std::make_shared<FeatureNet<float>>(c, o.seed);
  std::error_code ec;
  if (fs::exists(path, ec)) {
    const auto meta = net->load(path);
    fs_.accuracy = meta.count("test_accuracy") ? std::stod(meta.at("test_accuracy")) : -1;
    std::cout << "feature-net: reusing " << path.string() << " (test accuracy " << fs_.accuracy << ")\n";
  } else {
    require(o.steps >= 1 && o.batch >= 2, "feature-net: --steps must be >= 1 and the batch >= 2");
    require(data.train.rows() >= 2, "feature-net: the training set holds fewer than 2 images");
    // A set smaller than the batch is one batch (it used to read past the set's end).
    const std::int64_t batch = std::min<std::int64_t>(o.batch, data.train.rows());
    std::cout << "feature-net: training a " << c.classes << "-class " << (rotation ? "rotation " : "") << "classifier on "
              << data.name << (rotation ? " (no labels: self-supervised, which rotation was applied)" : "") << " (" << o.steps
              << " steps, batch " << batch << ")" << std::endl;
    Rng rng(o.seed ^ 0xFEA7u);
    std::vector<std::int64_t> order;
    std::int64_t pos = 0;
    Matrix<float> x(batch, data.train.cols());
    std::vector<int> y(static_cast<std::size_t>(batch));
    const auto t0 = Clock::now();
    double avg = 0;
    for (std::int64_t s = 1; s <= o.steps; ++s) {
      if (order.empty() || pos + batch > data.train.rows()) order = rng.permutation(data.train.rows()), pos = 0;
      data.train.gather_into(order.data() + pos, batch, x);
      if (rotation) {
        for (std::int64_t i = 0; i < batch; ++i) y[static_cast<std::size_t>(i)] = static_cast<int>(rng.below(static_cast<std::uint64_t>(rotations)));
        rotate(x, y);
      } else {
        for (std::int64_t i = 0; i < batch; ++i)
          y[static_cast<std::size_t>(i)] = data.train_labels[static_cast<std::size_t>(order[static_cast<std::size_t>(pos + i)])];
      }
      pos += batch;
      const double loss = net->train_step(x, y);
      require(std::isfinite(loss), "feature-net: the training loss is not finite at step " + std::to_string(s));
      avg = s == 1 ? loss : 0.98 * avg + 0.02 * loss;
      if (s % 500 == 0 || s == o.steps) {
        std::ostringstream line;  // a local stream: std::cout's format stays untouched
        line << "feature-net: step " << s << "/" << o.steps << "  loss " << std::setprecision(4) << avg << "  ("
             << std::setprecision(3) << std::chrono::duration<double>(Clock::now() - t0).count() << " s)";
        std::cout << line.str() << std::endl;
      }
    }
    {  // block by block: the test set stays bytes
      double correct = 0;
      const Index n = data.test.rows(), chunk = 1000;
      for (Index r0 = 0; r0 < n; r0 += chunk) {
        const Index len = std::min(chunk, n - r0);
        if (rotation) {  // every test image under every rotation
          for (int k = 0; k < rotations; ++k) {
            const std::vector<int> labels(static_cast<std::size_t>(len), k);
            Matrix<float> x = data.test.block(r0, len);
            rotate(x, labels);
            correct += net->accuracy(x, labels) * static_cast<double>(len) / rotations;
          }
        } else {
          const std::vector<int> labels(data.test_labels.begin() + r0, data.test_labels.begin() + r0 + len);
          correct += net->accuracy(data.test.block(r0, len), labels) * static_cast<double>(len);
        }
      }
      fs_.accuracy = correct / static_cast<double>(n);
    }
    std::cout << "feature-net: test accuracy " << fs_.accuracy << " on " << data.test.rows() << " test images\n";
    if (path.has_parent_path()) fs::create_directories(path.parent_path(), ec);
    std::ostringstream acc;
    acc << std::setprecision(6) << fs_.accuracy;
    net->save(path, {{"test_accuracy", acc.str()}, {"steps", std::to_string(o.steps)}});
    std::cout << "feature-net: saved " << path.string() << "\n";
  }
  std::ostringstream name;
  name << "domain feature net (" << c.features << "-d penultimate layer of a " << data.name
       << (rotation ? " rotation classifier, self-supervised" : " classifier") << ", test accuracy " << std::fixed
       << std::setprecision(4) << fs_.accuracy << ")";
  fs_.name = name.str();
  fs_.net = net;
  fs_.extract = [net](const Matrix<float>& x) { return net->features(x); };
  return fs_;
}

}  // namespace dpvae::cli
