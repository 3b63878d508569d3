// dpvae/data.hpp — module header of the data sets: IDX image files (MNIST, Fashion-MNIST;
// needs zlib, target dpvae::data) and the generated two-moons set.
#pragma once

#include "dpvae/data/idx.hpp"
#include "dpvae/data/image_array.hpp"
#include "dpvae/data/minibatch.hpp"
#include "dpvae/data/two_moons.hpp"
