// dpvae/objectives.hpp — module header of the objectives (regularizer policies), their
// estimators and their self-description (docs/math.md "Objectives"). Depends on nn/ and
// prior/ only.
#pragma once

#include "dpvae/objectives/estimators.hpp"
#include "dpvae/objectives/list.hpp"
#include "dpvae/objectives/registry.hpp"
