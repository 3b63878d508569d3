// dpvae/images.hpp — module header of dpvae::images, the compiled image data-set readers:
// decoding (stb), image folders, SVHN (libmatio), CelebA (a folder or its zip; libzip).
// Link dpvae::images; docs/data.md describes every format and choice.
#pragma once

#include "dpvae/images/datasets.hpp"
#include "dpvae/images/decode.hpp"
