// One translation unit per objective: both priors' model types are instantiated here.
#include "any_model.hpp"

namespace dpvae::cli::detail {
std::unique_ptr<AnyModel> make_factor(const std::string& prior, const ModelConfig& c, const Hyper& h) {
  (void)h;
  objective::Factor<float> o;
  o.gamma = h.gamma;
  o.discriminator_adam = h.discriminator_adam;
  return make_for<Factor>(prior, c, o);
}
}  // namespace dpvae::cli::detail
