// tests/gradcheck.hpp — the one generic finite-difference checker every backward pass meets.
//
// For a loss L(θ, x) with a hand-written gradient, check_gradients:
//  1. pre-fills the parameter-gradient buffer with a sentinel s and the input-gradient
//     buffer with a huge value, then runs the analytic backward once;
//  2. checks the backward contract: parameter gradients ACCUMULATED (result − s) and input
//     gradients ASSIGNED (no sentinel left);
//  3. compares both with central differences (L(θ + h e_i) − L(θ − h e_i)) / 2h in double.
// The error per entry is |analytic − numeric| / max(|analytic|, |numeric|, floor).
#pragma once

#include <dpvae/core.hpp>
#include <dpvae/rng.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace dpvae::test {

/// An r × c matrix of independent N(0, scale²) draws.
inline Matrix<double> normal_matrix(Index r, Index c, Rng& rng, double scale = 1.0) {
  Matrix<double> m(r, c);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = scale * rng.normal();
  return m;
}

struct GradCheck {
  double max_error = 0;
  std::string worst;  // which entry
  Index checked = 0;
};

struct GradCheckOptions {
  double step = 1e-5;
  double floor = 1e-2;
  double sentinel = 0.375;
  Index max_entries = 400;  // per buffer; a deterministic stride beyond that
};

/// loss(): evaluates L at the current contents of params and input.
/// backward(dparams, dinput): analytic gradient, accumulating into dparams (pre-filled with
/// the sentinel) and assigning dinput (pre-filled with 1e30).
inline GradCheck check_gradients(std::span<double> params, std::span<double> input,
                                 const std::function<double()>& loss,
                                 const std::function<void(std::span<double>, std::span<double>)>& backward,
                                 GradCheckOptions opt = {}) {
  std::vector<double> dparams(params.size(), opt.sentinel);
  std::vector<double> dinput(input.size(), 1e30);
  backward(dparams, dinput);
  for (auto& g : dparams) g -= opt.sentinel;
  GradCheck r;
  auto compare = [&](std::span<double> values, const std::vector<double>& analytic, const char* what) {
    const std::size_t n = values.size();
    const std::size_t stride = std::max<std::size_t>(1, n / static_cast<std::size_t>(opt.max_entries));
    for (std::size_t i = 0; i < n; i += stride) {
      const double keep = values[i];
      values[i] = keep + opt.step;
      const double up = loss();
      values[i] = keep - opt.step;
      const double down = loss();
      values[i] = keep;
      const double numeric = (up - down) / (2 * opt.step);
      const double a = analytic[i];
      const double err = std::abs(a - numeric) / std::max({std::abs(a), std::abs(numeric), opt.floor});
      ++r.checked;
      if (!(err <= r.max_error)) {  // also catches NaN
        r.max_error = std::isfinite(err) ? err : 1e300;
        r.worst = std::string(what) + "[" + std::to_string(i) + "]: analytic " + std::to_string(a) + ", numeric " +
                  std::to_string(numeric);
      }
    }
  };
  compare(params, dparams, "param");
  compare(input, dinput, "input");
  return r;
}

/// The whole model's ∂loss/∂θ (encoder, decoder, flow) against central differences, with ε
/// held fixed by restoring the RNG state.
template <class Model>
void check_model_gradient(Model& model, const Matrix<double>& x) {
  Rng noise(99);
  for (auto& p : model.parameters()) p += 0.1 * noise.normal();
  const auto state = model.rng().state();
  auto loss = [&]() {
    model.rng().set_state(state);
    return model.compute_gradients(x).front().second;
  };
  auto backward = [&](std::span<double> dp, std::span<double>) {
    model.rng().set_state(state);
    model.compute_gradients(x);
    for (std::size_t i = 0; i < dp.size(); ++i) dp[i] += model.gradients()[i];
  };
  GradCheckOptions opt;
  opt.max_entries = 100000;
  const auto r = check_gradients(model.parameters(), {}, loss, backward, opt);
  const std::string label = std::string(Model::objective_name()) + " / " + Model::prior_name();
  INFO(label << ": " << r.worst << " (" << r.checked << " entries)");
  MESSAGE(label << " whole model: max relative error " << r.max_error << " over " << r.checked << " entries");
  CHECK(r.max_error < 1e-6);
  CHECK(r.checked == static_cast<Index>(model.parameters().size()));
}

}  // namespace dpvae::test
