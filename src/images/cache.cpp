// src/images/cache.cpp — implementation of dpvae/images/cache.hpp.
//
// File layout (little-endian): "DPVAEIMG", u32 version (2), u32 0, u64 fingerprint,
// u64 #text, each (u64 length, bytes), u64 #arrays, each (i64 count, height, width, channels,
// u64 #labels), then each array's pixels and its labels as i32, then u32 CRC-32 (zlib) of
// everything before it.
#include "dpvae/images/cache.hpp"

#include <zlib.h>

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <system_error>

namespace dpvae::images {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'D', 'P', 'V', 'A', 'E', 'I', 'M', 'G'};
// 2: JPEGs decoded by libjpeg-turbo (1: by stb, whose pixels differ by a level or two), so a
// cache of version 1 is stale and rewritten.
constexpr std::uint32_t kVersion = 2;
static_assert(std::endian::native == std::endian::little, "the image cache is written little-endian");

struct Fnv {
  std::uint64_t h = 14695981039346656037ull;
  void add(const void* p, std::size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
  }
  void add(const std::string& s) {
    const std::uint64_t n = s.size();
    add(&n, sizeof n);
    add(s.data(), s.size());
  }
  template <class T>
  void add_value(T v) { add(&v, sizeof v); }
};

/// The running CRC-32 `crc` extended by n bytes (zlib's crc32 takes a uInt length).
uLong crc_update(uLong crc, const void* p, std::size_t n) {
  const auto* b = static_cast<const Bytef*>(p);
  for (std::size_t done = 0; done < n;) {
    const std::size_t m = std::min<std::size_t>(n - done, std::size_t{1} << 30);
    crc = crc32(crc, b + done, static_cast<uInt>(m));
    done += m;
  }
  return crc;
}

/// A writer that keeps the running CRC-32 of what it wrote.
struct Out {
  std::ofstream f;
  uLong crc = crc32(0L, Z_NULL, 0);
  void bytes(const void* p, std::size_t n) {
    crc = crc_update(crc, p, n);
    f.write(static_cast<const char*>(p), static_cast<std::streamsize>(n));
  }
  template <class T>
  void value(T v) { bytes(&v, sizeof v); }
};

/// A reader that keeps the running CRC-32 and refuses to read past the file's end.
struct In {
  std::ifstream f;
  std::uint64_t left = 0;
  uLong crc = crc32(0L, Z_NULL, 0);
  bool bytes(void* p, std::size_t n) {
    if (n > left) return false;
    f.read(static_cast<char*>(p), static_cast<std::streamsize>(n));
    if (!f || static_cast<std::size_t>(f.gcount()) != n) return false;
    left -= n;
    crc = crc_update(crc, p, n);
    return true;
  }
  template <class T>
  bool value(T& v) { return bytes(&v, sizeof v); }
};

bool writable_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  return !ec && fs::is_directory(dir, ec) && ::access(dir.c_str(), W_OK) == 0;
}

}  // namespace

std::uint64_t cache_fingerprint(const std::string& recipe, const std::vector<fs::path>& sources) {
  Fnv h;
  h.add(std::string(kMagic, sizeof kMagic));
  h.add_value(kVersion);
  h.add(recipe);
  h.add_value(static_cast<std::uint64_t>(sources.size()));
  for (const fs::path& p : sources) {
    std::error_code ec;
    const std::uintmax_t size = fs::file_size(p, ec);
    if (!ec) {
      const auto t = fs::last_write_time(p, ec);
      if (!ec) {
        h.add(p.string());
        h.add_value(static_cast<std::uint64_t>(size));
        h.add_value(static_cast<std::int64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count()));
        continue;
      }
    }
    h.add(p.string());
    h.add(std::string("(cannot be examined)"));
  }
  return h.h;
}

fs::path cache_file(const fs::path& data_dir, const std::string& name, std::string* why) {
  const auto none = [&](const std::string& reason) {
    if (why != nullptr) *why = reason;
    return fs::path();
  };
  const char* env = std::getenv("DPVAE_IMAGE_CACHE");
  if (env != nullptr && std::string(env) == "off") return none("caching is off (DPVAE_IMAGE_CACHE=off)");
  std::error_code ec;
  fs::path abs = fs::absolute(data_dir, ec);
  if (ec) abs = data_dir;
  abs = abs.lexically_normal();
  Fnv h;
  h.add(abs.string());
  char tag[17];
  std::snprintf(tag, sizeof tag, "%016llx", static_cast<unsigned long long>(h.h));
  const fs::path n(name);
  const std::string tagged = n.stem().string() + "-" + tag + n.extension().string();
  if (env != nullptr && *env != '\0')
    return writable_dir(env) ? fs::path(env) / tagged
                             : none("DPVAE_IMAGE_CACHE=" + std::string(env) + " is not a folder that can be written");
  if (writable_dir(abs / ".dpvae-cache")) return abs / ".dpvae-cache" / name;
  fs::path home;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && *x == '/') home = fs::path(x) / "dpvae";
  else if (const char* u = std::getenv("HOME"); u != nullptr && *u == '/') home = fs::path(u) / ".cache" / "dpvae";
  if (!home.empty() && writable_dir(home)) return home / tagged;
  return none("neither " + (abs / ".dpvae-cache").string() + " nor a user cache folder can be written");
}

std::optional<CachedImages> read_cache(const fs::path& file, std::uint64_t fingerprint, std::string* why) {
  const auto no = [&](const std::string& reason) -> std::optional<CachedImages> {
    if (why != nullptr) *why = reason;
    return std::nullopt;
  };
  std::error_code ec;
  if (file.empty() || !fs::is_regular_file(file, ec)) return no("no cache file");
  In in;
  in.left = fs::file_size(file, ec);
  if (ec) return no("cannot read " + file.string());
  in.f.open(file, std::ios::binary);
  if (!in.f) return no("cannot open " + file.string());
  char magic[8];
  std::uint32_t version = 0, zero = 0;
  std::uint64_t fp = 0, n_text = 0, n_arrays = 0;
  if (!in.bytes(magic, sizeof magic) || std::memcmp(magic, kMagic, sizeof magic) != 0 || !in.value(version) ||
      version != kVersion || !in.value(zero) || !in.value(fp))
    return no(file.string() + " is not a dpvae image cache of this version");
  if (fp != fingerprint) return no("the sources changed since " + file.string() + " was written");
  CachedImages out;
  if (!in.value(n_text) || n_text > in.left / 8) return no(file.string() + " is damaged");
  for (std::uint64_t i = 0; i < n_text; ++i) {
    std::uint64_t len = 0;
    if (!in.value(len) || len > in.left) return no(file.string() + " is damaged");
    std::string s(len, '\0');
    if (!in.bytes(s.data(), len)) return no(file.string() + " is damaged");
    out.text.push_back(std::move(s));
  }
  if (!in.value(n_arrays) || n_arrays > in.left / 40) return no(file.string() + " is damaged");
  std::vector<std::uint64_t> n_labels(n_arrays);
  out.arrays.resize(n_arrays);
  std::uint64_t payload = 0;
  for (std::uint64_t i = 0; i < n_arrays; ++i) {
    std::int64_t v[4];
    for (auto& x : v)
      if (!in.value(x) || x < 0 || x > (std::int64_t{1} << 31)) return no(file.string() + " is damaged");
    if (!in.value(n_labels[i]) || (n_labels[i] != 0 && n_labels[i] != static_cast<std::uint64_t>(v[0])))
      return no(file.string() + " is damaged");
    data::ImageArray& a = out.arrays[i];
    a.count = v[0], a.height = v[1], a.width = v[2], a.channels = v[3];
    const std::uint64_t dim = static_cast<std::uint64_t>(v[1]) * static_cast<std::uint64_t>(v[2]) * static_cast<std::uint64_t>(v[3]);
    if (dim != 0 && static_cast<std::uint64_t>(v[0]) > in.left / dim) return no(file.string() + " is damaged");
    payload += static_cast<std::uint64_t>(v[0]) * dim + 4 * n_labels[i];
    if (payload > in.left) return no(file.string() + " is damaged");
  }
  for (std::uint64_t i = 0; i < n_arrays; ++i) {
    data::ImageArray& a = out.arrays[i];
    a.pixels.resize(static_cast<std::size_t>(a.count * a.dim()));
    a.labels.resize(n_labels[i]);
    if (!in.bytes(a.pixels.data(), a.pixels.size())) return no(file.string() + " is damaged");
    std::vector<std::int32_t> lab(n_labels[i]);
    if (!in.bytes(lab.data(), lab.size() * 4)) return no(file.string() + " is damaged");
    for (std::size_t k = 0; k < lab.size(); ++k) {
      if (lab[k] < 0) return no(file.string() + " is damaged");
      a.labels[k] = lab[k];
    }
  }
  const uLong crc = in.crc;
  std::uint32_t stored = 0;
  if (!in.value(stored) || in.left != 0) return no(file.string() + " is damaged");
  if (stored != static_cast<std::uint32_t>(crc)) return no(file.string() + " is damaged (CRC-32 mismatch)");
  return out;
}

bool write_cache(const fs::path& file, std::uint64_t fingerprint, const std::vector<const data::ImageArray*>& arrays,
                 const std::vector<std::string>& text, std::string* why) {
  const auto no = [&](const std::string& reason) {
    if (why != nullptr) *why = reason;
    return false;
  };
  if (file.empty()) return no("no writable place for the cache");
  const fs::path tmp = file.string() + ".tmp-" + std::to_string(::getpid());
  std::error_code ec;
  {
    Out out;
    out.f.open(tmp, std::ios::binary | std::ios::trunc);
    if (!out.f) return no("cannot create " + tmp.string());
    out.bytes(kMagic, sizeof kMagic);
    out.value(kVersion);
    out.value(std::uint32_t{0});
    out.value(fingerprint);
    out.value(static_cast<std::uint64_t>(text.size()));
    for (const std::string& s : text) {
      out.value(static_cast<std::uint64_t>(s.size()));
      out.bytes(s.data(), s.size());
    }
    out.value(static_cast<std::uint64_t>(arrays.size()));
    for (const data::ImageArray* a : arrays) {
      for (Index v : {a->count, a->height, a->width, a->channels}) out.value(static_cast<std::int64_t>(v));
      out.value(static_cast<std::uint64_t>(a->labels.size()));
    }
    for (const data::ImageArray* a : arrays) {
      out.bytes(a->pixels.data(), a->pixels.size());
      std::vector<std::int32_t> lab(a->labels.begin(), a->labels.end());
      out.bytes(lab.data(), lab.size() * 4);
    }
    out.value(static_cast<std::uint32_t>(out.crc));
    out.f.flush();
    if (!out.f) {
      out.f.close();
      fs::remove(tmp, ec);
      return no("cannot write " + tmp.string() + " (disk full?)");
    }
  }
  fs::rename(tmp, file, ec);
  if (ec) {
    fs::remove(tmp, ec);
    return no("cannot rename " + tmp.string() + " to " + file.string());
  }
  return true;
}

}  // namespace dpvae::images
