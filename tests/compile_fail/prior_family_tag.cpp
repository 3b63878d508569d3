// expect: the common slip is passing a family tag
#include <dpvae/model.hpp>
dpvae::DpVae<dpvae::BetaTC, dpvae::StandardNormal> model(dpvae::ModelConfig{});
