// expect: the common slip is naming the objective itself
#include <dpvae/model.hpp>
dpvae::DpVae<dpvae::objective::BetaTC<float>, dpvae::Coupling<6>> model(dpvae::ModelConfig{});
