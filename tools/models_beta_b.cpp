// One translation unit per objective: both priors' model types are instantiated here.
#include "any_model.hpp"

namespace dpvae::cli::detail {
std::unique_ptr<AnyModel> make_beta_b(const std::string& prior, const ModelConfig& c, const Hyper& h) {
  (void)h;
  objective::BetaB<float> o;
  o.gamma = h.gamma;
  o.c_max = h.c_max;
  o.capacity_steps = h.capacity_steps;
  return make_for<BetaB>(prior, c, o);
}
}  // namespace dpvae::cli::detail
