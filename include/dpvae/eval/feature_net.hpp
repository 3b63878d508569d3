// dpvae/eval/feature_net.hpp — a small classifier whose penultimate layer is the feature space
// of "domain FID" (docs/math.md "FID" (b)): Inception-v3 weights cannot be downloaded on our
// machines, so dpvae trains a classifier on the data set itself with its own layers, saves
// it once (safetensors) and reuses it for every model's FID.
//
// Images (channels last, H and W divisible by 4):
//   Conv(C→32, k4 s2 p1)–ReLU–Conv(32→64, k4 s2 p1)–ReLU–FC 256–ReLU–FC F–ReLU │ FC classes
// 2-D or other vector data: FC 128–ReLU–FC F–ReLU │ FC classes.
// The features are the F = 128 ReLU outputs before the last linear layer.
#pragma once

#include "dpvae/io/safetensors.hpp"
#include "dpvae/nn/network.hpp"
#include "dpvae/nn/optim.hpp"
#include "dpvae/rng.hpp"

#include <cmath>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

namespace dpvae {

struct FeatureNetConfig {
  Index height = 0, width = 0, channels = 0;  ///< image shape; 0 × 0 × 0 for vector data
  Index data_dim = 0;                         ///< input size (H·W·C for images)
  Index classes = 10;
  Index features = 128;
  std::string dataset;  ///< the data set's name, stored in the file and checked on load
  bool images() const { return height > 0; }
};

template <class T = float>
class FeatureNet {
 public:
  explicit FeatureNet(FeatureNetConfig c, std::uint64_t seed = 1) : config_(std::move(c)) {
    detail::require(config_.classes >= 2 && config_.features >= 1 && config_.data_dim >= 1,
                    "feature net: needs >= 2 classes, >= 1 feature and data");
    if (config_.images()) {
      detail::require(config_.height % 4 == 0 && config_.width % 4 == 0 &&
                          config_.height * config_.width * config_.channels == config_.data_dim,
                      "feature net: image sides must be divisible by 4 and match the data size");
      const Index h = config_.height, w = config_.width, ch = config_.channels;
      body_.add(Conv2d<T>(h, w, ch, 32, 4, 2, 1)).act(Activation::relu);
      body_.add(Conv2d<T>(h / 2, w / 2, 32, 64, 4, 2, 1)).act(Activation::relu);
      body_.linear(256).act(Activation::relu).linear(config_.features).act(Activation::relu);
    } else {
      body_.add(Linear<T>(config_.data_dim, 128)).act(Activation::relu).linear(config_.features).act(Activation::relu);
    }
    head_.add(Linear<T>(config_.features, config_.classes));
    const auto nb = static_cast<std::size_t>(body_.num_parameters());
    params_.assign(nb + static_cast<std::size_t>(head_.num_parameters()), T(0));
    grads_.assign(params_.size(), T(0));
    std::span<T> p(params_), g(grads_);
    body_.bind(p.subspan(0, nb), g.subspan(0, nb));
    head_.bind(p.subspan(nb), g.subspan(nb));
    Rng rng(seed);
    body_.init(rng);
    head_.init(rng);
    adam_ = Adam<T>(params_.size(), AdamConfig{1e-3, 0.9, 0.999, 1e-8});
  }

  FeatureNet(const FeatureNet&) = delete;
  FeatureNet& operator=(const FeatureNet&) = delete;

  const FeatureNetConfig& config() const { return config_; }
  std::span<T> parameters() { return params_; }
  std::span<T> gradients() { return grads_; }

  /// Penultimate-layer features of a batch x (n × D): n × F, ReLU outputs.
  Matrix<T> features(const Matrix<T>& x) const {
    check(x);
    typename Network<T>::Tape tape;
    return body_.forward(x, tape);
  }
  /// Class logits (n × classes).
  Matrix<T> logits(const Matrix<T>& x) const {
    check(x);
    typename Network<T>::Tape tb, th;
    return head_.forward(body_.forward(x, tb), th);
  }

  /// Mean softmax cross-entropy (nats) of the batch against labels in [0, classes), and its
  /// gradient ∂L/∂parameters written to gradients() (assigned).
  /// L = (1/n) Σ_i [logsumexp_c l_ic − l_{i y_i}]; ∂L/∂l = (softmax(l) − onehot(y)) / n.
  double loss_and_gradients(const Matrix<T>& x, const std::vector<int>& y) {
    check(x);
    detail::require(static_cast<Index>(y.size()) == x.rows(), "feature net: one label per row is needed");
    typename Network<T>::Tape tb, th;
    const Matrix<T>& h = body_.forward(x, tb);
    const Matrix<T>& l = head_.forward(h, th);
    Matrix<T> dl(l.rows(), l.cols());
    double loss = 0;
    for (Index i = 0; i < l.rows(); ++i) {
      const int yi = y[static_cast<std::size_t>(i)];
      detail::require(yi >= 0 && yi < config_.classes, "feature net: label " + std::to_string(yi) + " out of range");
      const T m = l.row(i).maxCoeff();
      const auto e = (l.row(i).array() - m).exp().eval();
      const T s = e.sum();
      loss += static_cast<double>(m + std::log(s) - l(i, yi));
      dl.row(i) = (e / s).matrix();
      dl(i, yi) -= T(1);
    }
    dl /= static_cast<T>(x.rows());
    std::fill(grads_.begin(), grads_.end(), T(0));
    Matrix<T> dh;
    head_.backward(th, dl, &dh);
    body_.backward(tb, dh, nullptr);
    return loss / static_cast<double>(x.rows());
  }

  /// One Adam step (lr 1e-3) on a labelled batch; returns the batch loss before the step.
  double train_step(const Matrix<T>& x, const std::vector<int>& y) {
    const double loss = loss_and_gradients(x, y);
    adam_.step(params_, grads_);
    return loss;
  }

  /// Fraction of rows whose argmax logit equals the label, in batches of 100.
  double accuracy(const Matrix<T>& x, const std::vector<int>& y) const {
    detail::require(static_cast<Index>(y.size()) == x.rows() && x.rows() > 0, "feature net: one label per row is needed");
    Index correct = 0;
    for (Index r0 = 0; r0 < x.rows(); r0 += 100) {
      const Index len = std::min<Index>(100, x.rows() - r0);
      const Matrix<T> l = logits(x.middleRows(r0, len));
      for (Index i = 0; i < len; ++i) {
        Index arg = 0;
        l.row(i).maxCoeff(&arg);
        correct += arg == y[static_cast<std::size_t>(r0 + i)] ? 1 : 0;
      }
    }
    return static_cast<double>(correct) / static_cast<double>(x.rows());
  }

  /// Saves parameters and the configuration (plus `extra` metadata such as the test
  /// accuracy) atomically as safetensors.
  void save(const std::filesystem::path& path, const std::map<std::string, std::string>& extra = {}) const {
    io::File f;
    visit([&](const std::string& name, Index off, const std::vector<std::int64_t>& shape) {
      f.add(name, io::Tensor::from(params_.data() + off, shape));
    });
    f.metadata = extra;
    f.metadata["format"] = "dpvae-feature-net-1";
    f.metadata["identity"] = identity();
    io::save(path, f);
  }
  /// Loads a file written by save() for the same configuration; returns its metadata.
  /// Throws dpvae::Error naming the file when it is not a feature net, belongs to another
  /// data set or shape, or a tensor is missing or misshapen.
  std::map<std::string, std::string> load(const std::filesystem::path& path) {
    const io::File f = io::load(path);
    const std::string p = path.string();
    detail::require(f.metadata.count("format") && f.metadata.at("format") == "dpvae-feature-net-1",
                    p + ": not a dpvae feature net");
    const std::string id = f.meta("identity", p);
    detail::require(id == identity(), p + ": feature net of another data set or shape (" + id + "), expected " + identity());
    std::vector<T> tmp(params_.size());
    visit([&](const std::string& name, Index off, const std::vector<std::int64_t>& shape) {
      const io::Tensor& t = f.at(name, p);
      detail::require(t.shape == shape, p + ": tensor '" + name + "' has the wrong shape");
      t.copy_to(tmp.data() + off, t.numel(), name);
    });
    std::copy(tmp.begin(), tmp.end(), params_.begin());
    return f.metadata;
  }

  std::string identity() const {
    return "feature-net " + config_.dataset + " " + std::to_string(config_.height) + "x" + std::to_string(config_.width) +
           "x" + std::to_string(config_.channels) + " D=" + std::to_string(config_.data_dim) +
           " classes=" + std::to_string(config_.classes) + " F=" + std::to_string(config_.features);
  }

 private:
  template <class F>
  void visit(F&& f) const {
    body_.visit_tensors("body", f);
    const Index nb = body_.num_parameters();
    head_.visit_tensors("head", [&](const std::string& n, Index off, const std::vector<std::int64_t>& s) { f(n, nb + off, s); });
  }
  void check(const Matrix<T>& x) const {
    detail::require(x.cols() == config_.data_dim, "feature net: inputs have " + std::to_string(x.cols()) +
                                                      " values, expected " + std::to_string(config_.data_dim));
  }

  FeatureNetConfig config_;
  Network<T> body_, head_;
  AlignedBuffer<T> params_, grads_;
  Adam<T> adam_;
};

}  // namespace dpvae
