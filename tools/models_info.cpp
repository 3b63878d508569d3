// One translation unit per objective: both priors' model types are instantiated here.
#include "any_model.hpp"

namespace dpvae::cli::detail {
std::unique_ptr<AnyModel> make_info(const std::string& prior, const ModelConfig& c, const Hyper& h) {
  (void)h;
  objective::Info<float> o;
  o.alpha = h.alpha;
  o.lambda = h.lambda;
  o.kernel = h.kernel == "imq" ? MmdKernel::imq : MmdKernel::rbf;
  return make_for<Info>(prior, c, o);
}
}  // namespace dpvae::cli::detail
