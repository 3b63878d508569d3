// dpvae/prior.hpp — module header of the latent priors p(z): the flow-block concept, the
// affine coupling block, and the standard normal and decoupled priors (docs/math.md,
// "Decoupled prior"). Depends on nn/ only.
#pragma once

#include "dpvae/prior/flow_block.hpp"
#include "dpvae/prior/affine_coupling.hpp"
#include "dpvae/prior/priors.hpp"
