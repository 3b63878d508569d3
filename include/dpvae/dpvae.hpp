// dpvae/dpvae.hpp — the umbrella header of dpvae, decoupled-prior variational autoencoders.
#pragma once

#include "dpvae/architecture.hpp"
#include "dpvae/backend.hpp"
#include "dpvae/core.hpp"
#include "dpvae/estimators.hpp"
#include "dpvae/flow.hpp"
#include "dpvae/layers.hpp"
#include "dpvae/likelihood.hpp"
#include "dpvae/model.hpp"
#include "dpvae/network.hpp"
#include "dpvae/optim.hpp"
#include "dpvae/prior.hpp"
#include "dpvae/regularizers.hpp"
#include "dpvae/rng.hpp"
