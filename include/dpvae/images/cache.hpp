// dpvae/images/cache.hpp — a decoded image set kept beside its sources (compiled component
// dpvae::images; docs/data.md "The decoded-set cache").
//
// Decoding CelebA's 202,599 JPEGs takes minutes; the decoded uint8 arrays take seconds to read
// back. A cache file holds the arrays of one decode together with a fingerprint of what they
// were decoded from and how: the reader and its options (channels, crop, resize, skipping) and
// every source file's path, size and modification time. A cache whose fingerprint differs from
// the sources' current one is stale and decoded again; one whose bytes fail their CRC-32 is
// decoded again too. A source rewritten in place with the same size and modification time
// (e.g. `cp -p` of other content) is not detected.
#pragma once

#include "dpvae/data/image_array.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace dpvae::images {

/// The fingerprint of a decode: FNV-1a 64 over `recipe` and, for each source in order, its
/// path, size in bytes and modification time (ns); a source that cannot be examined (a broken
/// link, a FIFO) enters by its path and a marker, so that the decode, not the fingerprint,
/// reports it (or --skip-bad-images leaves it out). Never throws.
std::uint64_t cache_fingerprint(const std::string& recipe, const std::vector<std::filesystem::path>& sources);

/// Where the cache named `name` of the data in `data_dir` lives: data_dir/.dpvae-cache/NAME
/// when that folder can be created and written, else $XDG_CACHE_HOME/dpvae (or
/// ~/.cache/dpvae)/NAME-<hash of data_dir's absolute path>; the environment variable
/// DPVAE_IMAGE_CACHE overrides both with a folder, or turns caching off with "off". Returns
/// an empty path, with the reason in `*why` when given, when caching is off or no place can
/// be written.
std::filesystem::path cache_file(const std::filesystem::path& data_dir, const std::string& name, std::string* why = nullptr);

/// The contents of a cache file: the arrays in the order written and free text lines (e.g. a
/// folder's class names, a skip report).
struct CachedImages {
  std::vector<data::ImageArray> arrays;
  std::vector<std::string> text;
};

/// Reads `file` when it holds `fingerprint`. Returns nullopt, with the reason in `*why` when
/// given, for a missing file, another fingerprint (stale) or a damaged file (bad magic,
/// sizes beyond the file, CRC-32 mismatch); never throws for the file's contents. Arrays are
/// read straight into their final buffers (peak memory: the arrays).
std::optional<CachedImages> read_cache(const std::filesystem::path& file, std::uint64_t fingerprint, std::string* why = nullptr);

/// Writes `arrays` and `text` with `fingerprint` to `file` through a temporary file in the
/// same folder and a rename (a reader never sees half a cache). Returns false, with the
/// reason in `*why`, when the file cannot be written; never throws for that.
bool write_cache(const std::filesystem::path& file, std::uint64_t fingerprint, const std::vector<const data::ImageArray*>& arrays,
                 const std::vector<std::string>& text, std::string* why = nullptr);

}  // namespace dpvae::images
