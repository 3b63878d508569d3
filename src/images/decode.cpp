// src/images/decode.cpp — implementation of dpvae/images/decode.hpp: JPEG with libjpeg-turbo
// (libjpeg's own API, as PIL calls it; Debian's libjpeg62-turbo), every other format with stb
// (Debian's libstb).
#include "dpvae/images/decode.hpp"

#include <stb_image.h>
#include <stb_image_resize.h>

#include <tbb/parallel_for.h>
#include <zlib.h>

#include <csetjmp>
#include <cstdio>  // before jpeglib.h, which uses FILE and size_t
#include <jpeglib.h>
#include <jerror.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <thread>

namespace dpvae::images {

using dpvae::detail::fail;
using dpvae::detail::require;

namespace {

/// The largest image decode_image accepts, in pixels (8192 × 8192): stb's buffer for it and
/// the copy returned are at most 256 MiB each at 4 bytes per pixel.
constexpr std::int64_t kMaxPixels = std::int64_t{1} << 26;

bool is_jpeg(const std::vector<std::uint8_t>& b) { return b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF; }

std::string size_text(Index h, Index w) { return std::to_string(w) + " × " + std::to_string(h); }

/// Refuses a size outside [1, kMaxPixels] pixels, naming the file.
void check_size(const std::string& name, int height, int width) {
  require(height >= 1 && width >= 1 && static_cast<std::int64_t>(height) * width <= kMaxPixels,
          name + ": image size " + size_text(height, width) + " is out of range (at most 2^26 pixels)");
}

// --- JPEG through libjpeg's API -------------------------------------------------------------
// PIL's policy, which dpvae follows (docs/data.md "Decoding"): a fatal libjpeg error refuses
// the file; a warning (corrupt data libjpeg recovers from) is ignored, except that the data
// running out ("Premature end of JPEG file": libjpeg pads the rest) is a truncated file.
// libjpeg reports errors by calling error_exit, which must not return: it longjmps back to the
// setjmp of the phase function that called libjpeg. Those functions hold only trivially
// destructible locals, and every C++ object lives in the caller (decode_jpeg), so the jump
// skips no destructor.

/// A decompression's state: libjpeg's object, its error manager and the scan limit.
struct Jpeg {
  jpeg_decompress_struct d{};
  jpeg_error_mgr mgr{};
  jpeg_progress_mgr progress{};
  std::jmp_buf jump{};
  bool created = false;
  bool truncated = false;                ///< libjpeg warned JWRN_JPEG_EOF
  char message[JMSG_LENGTH_MAX + 64] = {};  ///< the fatal error's text

  Jpeg() = default;
  Jpeg(const Jpeg&) = delete;
  Jpeg& operator=(const Jpeg&) = delete;
  ~Jpeg() {
    if (created) jpeg_destroy_decompress(&d);
  }
  static Jpeg& of(j_common_ptr c) { return *static_cast<Jpeg*>(c->client_data); }
};

void jpeg_error_exit(j_common_ptr c) {
  Jpeg& j = Jpeg::of(c);
  (*c->err->format_message)(c, j.message);
  std::longjmp(j.jump, 1);
}

void jpeg_emit_message(j_common_ptr c, int level) {
  if (level < 0 && c->err->msg_code == JWRN_JPEG_EOF) Jpeg::of(c).truncated = true;
}

/// A progressive JPEG may hold any number of scans, each a pass over the whole image: a few
/// hundred bytes can make libjpeg work for minutes. More than 500 is refused (libjpeg-turbo's
/// own limit for this attack, TJFLAG_LIMITSCANS).
void jpeg_scan_limit(j_common_ptr c) {
  const auto* d = reinterpret_cast<j_decompress_ptr>(c);
  if (d->progressive_mode && d->input_scan_number > 500) {
    Jpeg& j = Jpeg::of(c);
    std::snprintf(j.message, sizeof j.message, "a progressive JPEG of more than 500 scans");
    std::longjmp(j.jump, 1);
  }
}

/// libjpeg's header of `size` bytes at `data` into j.d. False on a fatal error (j.message).
bool jpeg_header(Jpeg& j, const std::uint8_t* data, std::size_t size) {
  j.d.err = jpeg_std_error(&j.mgr);
  j.mgr.error_exit = jpeg_error_exit;
  j.mgr.emit_message = jpeg_emit_message;
  j.d.client_data = &j;
  if (setjmp(j.jump) != 0) return false;
  jpeg_create_decompress(&j.d);
  j.created = true;  // jpeg_create_decompress keeps err and client_data
  j.progress.progress_monitor = jpeg_scan_limit;
  j.d.progress = &j.progress;
  jpeg_mem_src(&j.d, data, static_cast<unsigned long>(size));
  jpeg_read_header(&j.d, TRUE);
  return true;
}

/// Every scanline in `space` into `out` (rows of `row_bytes`), then the end of the file. False
/// on a fatal error (j.message).
bool jpeg_pixels(Jpeg& j, J_COLOR_SPACE space, std::uint8_t* out, std::size_t row_bytes) {
  if (setjmp(j.jump) != 0) return false;
  j.d.out_color_space = space;
  jpeg_start_decompress(&j.d);
  while (j.d.output_scanline < j.d.output_height) {
    JSAMPROW row = out + static_cast<std::size_t>(j.d.output_scanline) * row_bytes;
    jpeg_read_scanlines(&j.d, &row, 1);
  }
  jpeg_finish_decompress(&j.d);
  return true;
}

/// A JPEG decoded as decode_image documents it (the checks in order: the header, the size, the
/// pixels, truncation).
std::vector<std::uint8_t> decode_jpeg(const std::vector<std::uint8_t>& bytes, const std::string& name, int channels,
                                      int& height, int& width) {
  Jpeg j;
  auto refuse = [&] {
    if (j.truncated) fail(name + ": truncated JPEG (the data ends before the image does)");
    fail(name + ": cannot decode (" + std::string(j.message) + ")");
  };
  if (!jpeg_header(j, bytes.data(), bytes.size())) refuse();
  height = static_cast<int>(j.d.image_height);
  width = static_cast<int>(j.d.image_width);
  check_size(name, height, width);
  const auto pixels = static_cast<std::size_t>(height) * static_cast<std::size_t>(width);
  const bool four = j.d.jpeg_color_space == JCS_CMYK || j.d.jpeg_color_space == JCS_YCCK;
  if (!four) {
    std::vector<std::uint8_t> out(pixels * static_cast<std::size_t>(channels));
    if (!jpeg_pixels(j, channels == 3 ? JCS_RGB : JCS_GRAYSCALE, out.data(), static_cast<std::size_t>(width * channels)))
      refuse();
    if (j.truncated) refuse();
    return out;
  }
  // CMYK and YCCK (libjpeg converts YCCK to CMYK): as PIL reads them, Adobe's inverted
  // convention assumed ("CMYK;I": C = 255 − stored), then PIL's cmyk2rgb, R = nk − nk·C/255
  // with nk = 255 − K, in PIL's integer arithmetic (MULDIV255); grey is stb's luma of that.
  std::vector<std::uint8_t> cmyk(pixels * 4);
  if (!jpeg_pixels(j, JCS_CMYK, cmyk.data(), static_cast<std::size_t>(width) * 4)) refuse();
  if (j.truncated) refuse();
  std::vector<std::uint8_t> out(pixels * static_cast<std::size_t>(channels));
  for (std::size_t i = 0; i < pixels; ++i) {
    const std::uint8_t* in = &cmyk[4 * i];
    const int nk = in[3];  // 255 − K, K = 255 − stored
    int rgb[3];
    for (int ch = 0; ch < 3; ++ch) {
      const int t = (255 - in[ch]) * nk + 128;
      rgb[ch] = std::clamp(nk - (((t >> 8) + t) >> 8), 0, 255);
    }
    if (channels == 3)
      for (int ch = 0; ch < 3; ++ch) out[3 * i + static_cast<std::size_t>(ch)] = static_cast<std::uint8_t>(rgb[ch]);
    else
      out[i] = static_cast<std::uint8_t>((rgb[0] * 77 + rgb[1] * 150 + rgb[2] * 29) >> 8);
  }
  return out;
}

std::uint32_t big32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | std::uint32_t{p[3]};
}
std::uint32_t little32(const std::uint8_t* p) {
  return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 | std::uint32_t{p[3]} << 24;
}

/// What stb accepts but PIL refuses, as a reason ("" when the file is whole): a PNG chunk whose
/// CRC does not match, or a PNG without IEND; a binary PGM/PPM or an uncompressed BMP shorter
/// than its header's pixel count says. docs/data.md "Decoding".
std::string incomplete(const std::vector<std::uint8_t>& b) {
  const std::size_t n = b.size();
  static const std::uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
  if (n >= 8 && std::memcmp(b.data(), png_sig, 8) == 0) {
    std::size_t pos = 8;
    while (pos + 12 <= n) {
      const std::uint64_t len = big32(&b[pos]);
      if (len > n - pos - 12) return "truncated PNG (a chunk runs past the end of the file)";
      const std::uint32_t crc = static_cast<std::uint32_t>(crc32(0L, &b[pos + 4], static_cast<uInt>(len + 4)));
      if (crc != big32(&b[pos + 8 + len])) return "corrupt PNG (CRC mismatch in a chunk)";
      if (std::memcmp(&b[pos + 4], "IEND", 4) == 0) return "";
      pos += 12 + len;
    }
    return "truncated PNG (no IEND chunk)";
  }
  if (n >= 2 && b[0] == 'P' && (b[1] == '5' || b[1] == '6')) {  // binary PGM / PPM
    std::size_t pos = 2;
    std::uint64_t v[3] = {0, 0, 0};
    for (auto& x : v) {
      for (;;) {  // whitespace and comments
        while (pos < n && std::isspace(b[pos])) ++pos;
        if (pos < n && b[pos] == '#') {
          while (pos < n && b[pos] != '\n') ++pos;
        } else {
          break;
        }
      }
      if (pos >= n || !std::isdigit(b[pos])) return "";  // malformed: stb names it
      while (pos < n && std::isdigit(b[pos]) && x < (std::uint64_t{1} << 32)) x = 10 * x + (b[pos++] - '0');
    }
    ++pos;  // the single whitespace before the pixels
    const std::uint64_t need = v[0] * v[1] * (b[1] == '6' ? 3 : 1) * (v[2] > 255 ? 2 : 1);
    if (pos > n || n - pos < need) return "truncated " + std::string(b[1] == '6' ? "PPM" : "PGM") + " (fewer pixel bytes than the header's size)";
    return "";
  }
  if (n >= 54 && b[0] == 'B' && b[1] == 'M') {
    const std::uint32_t offset = little32(&b[10]), header = little32(&b[14]);
    if (header < 40) return "";  // an OS/2 header: left to stb
    const auto w = static_cast<std::int32_t>(little32(&b[18])), h = static_cast<std::int32_t>(little32(&b[22]));
    const unsigned bits = std::uint32_t{b[28]} | std::uint32_t{b[29]} << 8;
    const std::uint32_t compression = little32(&b[30]);
    // stb reads the pixels raw unless the compression is RLE (1, 2) or 4..2^31 - 1 (refused);
    // it reads them raw even for a "negative" compression.
    const bool raw = compression == 0 || compression == 3 || compression >= 0x80000000u;
    if (!raw || w <= 0 || h == 0 || h == INT32_MIN) return "";  // compressed or malformed: left to stb
    const std::uint64_t row = (static_cast<std::uint64_t>(bits) * static_cast<std::uint64_t>(w) + 31) / 32 * 4;
    const std::uint64_t need = std::uint64_t{offset} + row * static_cast<std::uint64_t>(h < 0 ? -static_cast<std::int64_t>(h) : h);
    if (n < need) return "truncated BMP (fewer pixel bytes than the header's size)";
  }
  return "";
}

}  // namespace

std::vector<std::uint8_t> read_file(const std::filesystem::path& path) {
  const std::string p = path.string();
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) fail("cannot read " + p + ": Is a directory");
  std::FILE* f = std::fopen(p.c_str(), "rb");
  if (f == nullptr) fail("cannot read " + p + ": " + std::strerror(errno));
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> closer(f, std::fclose);
  std::vector<std::uint8_t> out;
  std::uint8_t buf[1 << 16];
  for (;;) {
    const std::size_t got = std::fread(buf, 1, sizeof buf, f);
    out.insert(out.end(), buf, buf + got);
    if (got < sizeof buf) break;
  }
  if (std::ferror(f)) fail("cannot read " + p + ": " + std::strerror(errno));
  return out;
}

std::vector<std::uint8_t> decode_image(const std::vector<std::uint8_t>& bytes, const std::string& name, int channels,
                                       int& height, int& width) {
  require(channels == 1 || channels == 3, "decode_image: channels must be 1 or 3");
  if (bytes.empty()) fail(name + ": empty file");
  require(bytes.size() <= static_cast<std::size_t>(std::numeric_limits<int>::max()), name + ": file larger than 2 GiB");
  if (is_jpeg(bytes)) return decode_jpeg(bytes, name, channels, height, width);
  // The header's size first, so that a header claiming a huge image is refused before stb
  // allocates for it (a 60-byte BMP can claim 1536 × 393470 pixels).
  int c = 0;
  if (stbi_info_from_memory(bytes.data(), static_cast<int>(bytes.size()), &width, &height, &c) != 0)
    check_size(name, height, width);
  if (const std::string why = incomplete(bytes); !why.empty()) fail(name + ": " + why);
  std::unique_ptr<stbi_uc, void (*)(void*)> px(
      stbi_load_from_memory(bytes.data(), static_cast<int>(bytes.size()), &width, &height, &c, channels), stbi_image_free);
  if (!px) fail(name + ": cannot decode (" + std::string(stbi_failure_reason()) + ")");
  check_size(name, height, width);
  return std::vector<std::uint8_t>(px.get(), px.get() + static_cast<std::size_t>(height) * static_cast<std::size_t>(width) *
                                                            static_cast<std::size_t>(channels));
}

std::vector<std::uint8_t> centre_crop(const std::uint8_t* px, Index h, Index w, Index c, Index crop_h, Index crop_w) {
  require(crop_h >= 1 && crop_w >= 1 && crop_h <= h && crop_w <= w,
          "a centre crop of " + size_text(crop_h, crop_w) + " does not fit an image of " + size_text(h, w));
  const Index top = (h - crop_h) / 2, left = (w - crop_w) / 2;
  std::vector<std::uint8_t> out(static_cast<std::size_t>(crop_h * crop_w * c));
  for (Index r = 0; r < crop_h; ++r)
    std::copy_n(px + ((top + r) * w + left) * c, crop_w * c, out.data() + r * crop_w * c);
  return out;
}

std::vector<std::uint8_t> resize(const std::uint8_t* px, Index h, Index w, Index c, Index out_h, Index out_w) {
  require(h >= 1 && w >= 1 && out_h >= 1 && out_w >= 1 && c >= 1 && c <= 4, "resize: sizes must be positive");
  std::vector<std::uint8_t> out(static_cast<std::size_t>(out_h * out_w * c));
  const int ok = stbir_resize_uint8_generic(px, static_cast<int>(w), static_cast<int>(h), 0, out.data(), static_cast<int>(out_w),
                                            static_cast<int>(out_h), 0, static_cast<int>(c), STBIR_ALPHA_CHANNEL_NONE, 0,
                                            STBIR_EDGE_CLAMP, STBIR_FILTER_CATMULLROM, STBIR_COLORSPACE_LINEAR, nullptr);
  require(ok != 0, "resize: stb_image_resize failed (out of memory)");
  return out;
}

data::ImageArray decode_all(const EncodedSource& src, const DecodeOptions& o, DecodeReport* report) {
  const Geometry& g = o.geometry;
  require(o.channels == 1 || o.channels == 3, "images: channels must be 1 or 3 (got " + std::to_string(o.channels) + ")");
  require((g.height == 0) == (g.width == 0) && g.height >= 0 && g.height <= 4096 && g.width <= 4096,
          "images: the output size must be both 0 (keep) or both in [1, 4096]");
  require(src.count >= 1, "images: no image files");
  require(src.labels.empty() || src.labels.size() == static_cast<std::size_t>(src.count), "images: one label per file");
  const std::size_t n = static_cast<std::size_t>(src.count);
  const Index c = o.channels;

  // One image decoded and shaped (crop, resize), or a dpvae::Error naming the file.
  auto shape_one = [&](Index i, Index& hh, Index& ww) {
    const std::vector<std::uint8_t> bytes = src.read(i);
    int h = 0, w = 0;
    std::vector<std::uint8_t> px = decode_image(bytes, src.name(i), o.channels, h, w);
    hh = h, ww = w;
    if (g.expect_height > 0 && (hh != g.expect_height || ww != g.expect_width))
      fail(src.name(i) + ": " + size_text(hh, ww) + " pixels where " + size_text(g.expect_height, g.expect_width) +
           " are expected");
    if (g.crop_height != 0) {
      const Index ch = g.crop_height < 0 ? std::min(hh, ww) : g.crop_height;
      const Index cw = g.crop_width < 0 ? std::min(hh, ww) : g.crop_width;
      if (ch > hh || cw > ww) fail(src.name(i) + ": " + size_text(hh, ww) + " pixels, smaller than the " + size_text(ch, cw) + " crop");
      px = centre_crop(px.data(), hh, ww, c, ch, cw);
      hh = ch, ww = cw;
    }
    if (g.height > 0 && (hh != g.height || ww != g.width)) {
      px = resize(px.data(), hh, ww, c, g.height, g.width);
      hh = g.height, ww = g.width;
    }
    return px;
  };
  auto message = [](const Error& e) { return std::string(e.what()); };

  // The set's image size: the resize target, a fixed crop, the expected size, or else the
  // first decodable file's (found in order, so that the choice does not depend on threads).
  std::vector<std::string> error(n);
  Index want_h = g.height, want_w = g.width;
  if (want_h == 0 && g.crop_height > 0) want_h = g.crop_height, want_w = g.crop_width;
  if (want_h == 0 && g.crop_height == 0 && g.expect_height > 0) want_h = g.expect_height, want_w = g.expect_width;
  for (std::size_t i = 0; want_h == 0 && i < n; ++i) {
    try {
      shape_one(static_cast<Index>(i), want_h, want_w);
    } catch (const Error& e) {
      error[i] = message(e);
      want_h = want_w = 0;
    }
  }

  // Every file decoded straight into its row of the array (peak memory: the array plus one
  // image per thread), bad rows left as holes and squeezed out afterwards.
  data::ImageArray out;
  out.height = want_h, out.width = want_w, out.channels = c;
  const Index dim = out.dim();
  if (want_h > 0) out.pixels.resize(n * static_cast<std::size_t>(dim));
  std::atomic<Index> done{0};
  std::atomic<bool> finished{false};
  auto work = [&] {
    if (want_h > 0)
      tbb::parallel_for(std::size_t{0}, n, [&](std::size_t i) {
        if (error[i].empty()) {
          try {
            Index hh = 0, ww = 0;
            const std::vector<std::uint8_t> px = shape_one(static_cast<Index>(i), hh, ww);
            if (hh != want_h || ww != want_w)
              fail(src.name(static_cast<Index>(i)) + ": " + size_text(hh, ww) + " pixels where the set's images are " +
                   size_text(want_h, want_w) + " (pass an image size to resize them)");
            std::copy(px.begin(), px.end(), out.pixels.data() + i * static_cast<std::size_t>(dim));
          } catch (const Error& e) {
            error[i] = message(e);
          } catch (const std::bad_alloc&) {
            error[i] = src.name(static_cast<Index>(i)) + ": out of memory while decoding";
          }
        }
        done.fetch_add(1, std::memory_order_relaxed);
      });
    finished = true;
  };
  if (o.progress) {
    std::thread worker(work);
    while (!finished.load()) {
      o.progress(done.load(), src.count);
      for (int k = 0; k < 20 && !finished.load(); ++k) std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    worker.join();
    o.progress(src.count, src.count);
  } else {
    work();
  }

  const auto bad = static_cast<Index>(std::count_if(error.begin(), error.end(), [](const std::string& e) { return !e.empty(); }));
  const auto first_error = [&] {
    for (const std::string& e : error)
      if (!e.empty()) return e;
    return std::string();
  };
  if (bad > 0 && !o.skip_bad)
    fail(first_error() + (bad > 1 ? " (and " + std::to_string(bad - 1) + " more bad files; --skip-bad-images leaves them out)"
                                  : std::string(" (--skip-bad-images leaves it out)")));
  if (bad == src.count) fail("images: none of the " + std::to_string(src.count) + " files can be used (" + first_error() + ")");
  if (report != nullptr) {
    report->skipped = bad;
    report->first_skipped.clear();
    for (const std::string& e : error)
      if (!e.empty() && report->first_skipped.size() < 5) report->first_skipped.push_back(e);
  }
  Index row = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!error[i].empty()) continue;
    if (static_cast<Index>(i) != row)
      std::memmove(out.pixels.data() + row * dim, out.pixels.data() + i * static_cast<std::size_t>(dim), static_cast<std::size_t>(dim));
    if (!src.labels.empty()) out.labels.push_back(src.labels[i]);
    ++row;
  }
  out.count = row;
  out.pixels.resize(static_cast<std::size_t>(row * dim));
  return out;
}

}  // namespace dpvae::images
