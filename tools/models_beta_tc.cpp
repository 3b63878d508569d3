// One translation unit per objective: both priors' model types are instantiated here.
#include "any_model.hpp"

namespace dpvae::cli::detail {
std::unique_ptr<AnyModel> make_beta_tc(const std::string& prior, const ModelConfig& c, const Hyper& h) {
  (void)h;
  objective::BetaTC<float> o;
  o.alpha = h.alpha;
  o.beta = h.beta;
  o.gamma = h.gamma;
  return make_for<BetaTC>(prior, c, o);
}
}  // namespace dpvae::cli::detail
