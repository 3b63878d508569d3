// dpvae/objectives.hpp — module header of the objectives (regularizer policies) and their
// estimators (docs/math.md, "Objectives"). Depends on nn/ and prior/ only.
#pragma once

#include "dpvae/objectives/estimators.hpp"
#include "dpvae/objectives/regularizers.hpp"
