// dpvae/images/datasets.hpp — the paper's colour data sets and a user's own images, read into
// ImageArrays: SVHN's .mat files (libmatio), CelebA's aligned release (a folder or its zip,
// with its partition file), an image folder (flat, or one sub-folder per class as
// torchvision's ImageFolder), and NumPy arrays. Part of dpvae::images (docs/data.md).
#pragma once

#include "dpvae/data/image_array.hpp"
#include "dpvae/images/decode.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace dpvae::images {

/// The list of image files a folder holds: the files directly in `dir` whose extension, in
/// any case, is png, jpg, jpeg, bmp, pgm or ppm, sorted by name. Throws dpvae::Error naming
/// the folder when it cannot be read or holds none, and naming the first tif, tiff or webp
/// file (which stb does not decode).
std::vector<std::filesystem::path> list_image_files(const std::filesystem::path& dir);

/// A folder of images with, when it holds class sub-folders, their names in label order.
struct ImageFolder {
  data::ImageArray images;
  std::vector<std::string> classes;  ///< empty for a flat folder
  DecodeReport report;
};

/// Reads `dir`: either flat (image files directly in it; no labels) or ImageFolder-style (one
/// sub-folder per class, label i for the i-th name in sorted order, images in each; image
/// files directly in `dir` are then refused, to keep a stray file from passing unlabelled).
/// Throws dpvae::Error for a missing or empty folder, a class folder without images, and as
/// decode_all does.
ImageFolder load_image_folder(const std::filesystem::path& dir, const DecodeOptions& o);

/// SVHN's cropped digits (train_32x32.mat, test_32x32.mat, extra_32x32.mat): X is a MATLAB
/// uint8 array 32 × 32 × 3 × N (row, column, channel, image; column-major), y an N × 1 numeric
/// array of labels 1..10, where 10 stands for the digit 0. Read with libmatio (MATLAB v5,
/// compressed or not, and v7.3/HDF5). The ImageArray holds image i's pixel (r, c, ch) at
/// byte ((i·32 + r)·32 + c)·3 + ch, and label y mod 10 (the digit shown, torchvision's
/// mapping). Throws dpvae::Error naming the file for a file matio cannot open, a missing X or
/// y, another class or shape, a label outside 1..10, or counts that differ.
data::ImageArray read_svhn_mat(const std::filesystem::path& file);

/// CelebA's split of the aligned release, list_eval_partition.txt: a line "NAME.jpg P" per
/// image, P = 0 train, 1 validation, 2 test.
struct CelebaPartition {
  std::vector<std::string> names;
  std::vector<int> split;
};
/// Parses the partition file. Throws dpvae::Error naming the file and line for a malformed
/// line, a split not 0, 1 or 2, a duplicate name, or an empty file.
CelebaPartition read_celeba_partition(const std::filesystem::path& file);

/// CelebA's three splits, decoded and preprocessed.
struct Celeba {
  data::ImageArray train, validation, test;
  DecodeReport report;
};

/// The CelebA preprocessing of dpvae (docs/data.md "CelebA"): every image 178 wide × 218
/// high, the centre 140 × 140 crop, resized to size × size (the default 64).
Geometry celeba_geometry(Index size = 64);

/// CelebA from `root`, which holds list_eval_partition.txt and either the folder
/// img_align_celeba/ or the release's img_align_celeba.zip (a folder wins). Every name of the
/// partition file must be present (and, in a folder, no other .jpg: the partition file must
/// match the folder). o.geometry is replaced by celeba_geometry(size). Throws dpvae::Error
/// naming what is missing or wrong, and as decode_all does.
Celeba load_celeba(const std::filesystem::path& root, Index size, DecodeOptions o);

}  // namespace dpvae::images
