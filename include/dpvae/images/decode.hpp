// dpvae/images/decode.hpp — decoding image files into an ImageArray: libjpeg-turbo (Debian's
// libjpeg62-turbo) decodes JPEG, stb (Debian's libstb) PNG, BMP, PGM and PPM; the geometry
// (an expected size, a centre crop, a resize) is applied per image; files are decoded on all cores; every bad file is found
// before any training starts. Part of dpvae::images, the compiled component (docs/data.md).
//
// Conventions (docs/data.md "Decoding"):
//  * channels: 3 decodes RGB (a grey image is replicated into R = G = B, alpha is dropped,
//    16-bit samples are scaled to 8 bits: PIL's convert('RGB')); 1 decodes grey (a colour
//    JPEG gives its luma channel Y as libjpeg outputs it, another colour image stb's luma
//    (77 R + 150 G + 29 B) / 256: PIL's convert('L') up to rounding).
//  * JPEG: libjpeg's defaults (accurate integer IDCT, smooth chroma upsampling), the pixels
//    PIL decodes (CMYK and YCCK converted to RGB as PIL converts them); a fatal libjpeg error
//    refuses the file, its warnings (corrupt data it recovers from) are accepted, as by PIL,
//    except that data ending before the image does is a truncated file.
//  * crop: the centre crop of crop_height × crop_width takes rows [(H − h)/2, (H − h)/2 + h)
//    and columns [(W − w)/2, …) (integer division, as torchvision's CenterCrop rounds
//    (H − h)/2 to nearest: identical for the even differences of CelebA and squares).
//  * resize: stb_image_resize's Catmull–Rom cubic (a = −0.5, PIL's BICUBIC kernel), its
//    support widened by the scale when shrinking (antialiased, as PIL; not OpenCV's
//    INTER_CUBIC, which aliases), edges clamped, in the images' own (sRGB) values, rounded.
//  * a truncated JPEG (libjpeg pads it with grey and only warns "Premature end of JPEG
//    file") is refused, as PIL refuses it ("image file is truncated").
#pragma once

#include "dpvae/core.hpp"
#include "dpvae/data/image_array.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace dpvae::images {

/// What happens to each decoded image, in this order.
struct Geometry {
  Index expect_height = 0, expect_width = 0;  ///< the decoded size every file must have (0: the first file's, when no resize)
  Index crop_height = 0, crop_width = 0;      ///< centre crop (0: none; -1: the largest centred square)
  Index height = 0, width = 0;                ///< resize to (0: keep; then every image must share one size)
};

/// The images a reader decodes: `count` encoded files, each read by `read(i)` (its bytes) and
/// named by `name(i)` in errors, with optional labels.
struct EncodedSource {
  Index count = 0;
  std::function<std::vector<std::uint8_t>(Index)> read;  ///< throws dpvae::Error naming the file
  std::function<std::string(Index)> name;
  std::vector<int> labels;  ///< empty, or one per file
};

struct DecodeOptions {
  int channels = 3;          ///< 3: RGB, 1: grey
  Geometry geometry;
  bool skip_bad = false;     ///< skip unreadable / wrong-sized files (counted) instead of failing
  /// load_image_folder and load_celeba: keep the decoded set in a cache file beside the data
  /// and read it from there while its sources are unchanged (dpvae/images/cache.hpp).
  bool cache = false;
  /// Called now and then from the calling thread with (files done, total).
  std::function<void(Index, Index)> progress;
};

/// The files a decode skipped (with skip_bad): their count and the first few "name: reason".
struct DecodeReport {
  Index skipped = 0;
  std::vector<std::string> first_skipped;  ///< at most 5
  /// With DecodeOptions::cache: "read from PATH", "written to PATH", or why no cache was
  /// written ("not written: REASON"); empty without.
  std::string cache;
};

/// One encoded image (PNG, JPEG, BMP, PGM, PPM) decoded to h × w × channels bytes, channels
/// last: JPEG by libjpeg-turbo at libjpeg's defaults (PIL's pixels), the others by stb
/// (docs/data.md "Decoding"). Throws dpvae::Error "name: reason" for bytes neither can decode
/// (a fatal libjpeg error, a progressive JPEG of more than 500 scans), an empty file, a
/// truncated JPEG, or a size beyond 2^26 pixels (refused from the header, before decoding).
std::vector<std::uint8_t> decode_image(const std::vector<std::uint8_t>& bytes, const std::string& name, int channels,
                                       int& height, int& width);

/// The centre crop_h × crop_w of an h × w × c image (see the file comment). Throws
/// dpvae::Error when the crop is larger than the image.
std::vector<std::uint8_t> centre_crop(const std::uint8_t* px, Index h, Index w, Index c, Index crop_h, Index crop_w);

/// An h × w × c image resized to out_h × out_w × c with the antialiased Catmull–Rom filter of
/// the file comment.
std::vector<std::uint8_t> resize(const std::uint8_t* px, Index h, Index w, Index c, Index out_h, Index out_w);

/// Decodes every file of `src` on all cores (oneTBB) into one ImageArray, applying
/// o.geometry. A file that cannot be decoded, or whose size differs from the expected one
/// (geometry.expect_*, or without a resize the first good file's), is bad: without
/// o.skip_bad the first bad file in order is reported, "name: reason (and k more bad
/// files)", as a dpvae::Error before anything else happens; with it, bad files are left out
/// (with their labels) and counted in *report. Throws dpvae::Error when no image is left.
data::ImageArray decode_all(const EncodedSource& src, const DecodeOptions& o, DecodeReport* report = nullptr);

/// The whole file as bytes. Throws dpvae::Error "cannot read PATH: reason".
std::vector<std::uint8_t> read_file(const std::filesystem::path& path);

}  // namespace dpvae::images
