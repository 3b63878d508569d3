// Tests for dpvae::images (include/dpvae/images/) and dpvae/data/image_array.hpp: files are
// written here (PNG and JPEG with stb_image_write, .mat v5 and v7.3 with libmatio, a zip with
// libzip, .npy byte by byte) with asymmetric patterns, so that a swapped row, column or channel
// shows; crop and resize are checked against an independent computation in double.
#include <dpvae/data/image_array.hpp>
#include <dpvae/images/cache.hpp>
#include <dpvae/images/datasets.hpp>

#include <doctest/doctest.h>
#include <cstdio>  // before jpeglib.h
#include <jpeglib.h>
#include <matio.h>
#include <stb_image_write.h>
#include <zip.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <tuple>
#include <vector>

namespace fs = std::filesystem;
using dpvae::Index;
using dpvae::data::ImageArray;
namespace images = dpvae::images;

namespace {

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("dpvae_test_images_" + name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

/// Pixel (r, c, ch) of image `k`: distinct for every row, column and channel.
std::uint8_t pattern(int k, int r, int c, int ch) { return static_cast<std::uint8_t>((7 * r + 3 * c + 101 * ch + 37 * k) % 256); }

std::vector<std::uint8_t> make_image(int k, int h, int w, int channels) {
  std::vector<std::uint8_t> px(static_cast<std::size_t>(h * w * channels));
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c)
      for (int ch = 0; ch < channels; ++ch) px[static_cast<std::size_t>((r * w + c) * channels + ch)] = pattern(k, r, c, ch);
  return px;
}

void write_png(const fs::path& p, const std::vector<std::uint8_t>& px, int h, int w, int channels) {
  REQUIRE(stbi_write_png(p.string().c_str(), w, h, channels, px.data(), w * channels) != 0);
}

/// A smooth image (JPEG keeps it within a few levels) of size h × w.
std::vector<std::uint8_t> smooth_image(int k, int h, int w) {
  std::vector<std::uint8_t> px(static_cast<std::size_t>(h * w * 3));
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c)
      for (int ch = 0; ch < 3; ++ch)
        px[static_cast<std::size_t>((r * w + c) * 3 + ch)] = static_cast<std::uint8_t>(
            127.5 + 100 * std::sin(0.05 * (r + 1) * (ch + 1) + 0.03 * c + k) * std::cos(0.02 * c * (2 - ch) + 0.1 * k));
  return px;
}

void write_jpeg(const fs::path& p, const std::vector<std::uint8_t>& px, int h, int w) {
  REQUIRE(stbi_write_jpg(p.string().c_str(), w, h, 3, px.data(), 100) != 0);
}

std::vector<std::uint8_t> bytes_of(const fs::path& p) { return images::read_file(p); }

void write_bytes(const fs::path& p, const std::vector<std::uint8_t>& b) {
  std::ofstream(p, std::ios::binary).write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

/// The Catmull–Rom kernel (a = −0.5).
double cubic(double x) {
  x = std::abs(x);
  if (x < 1) return 1.5 * x * x * x - 2.5 * x * x + 1;
  if (x < 2) return -0.5 * x * x * x + 2.5 * x * x - 4 * x + 2;
  return 0;
}

/// Independent resize: separable antialiased Catmull–Rom, pixel centres aligned, edges clamped.
std::vector<double> reference_resize(const std::vector<std::uint8_t>& px, int h, int w, int c, int oh, int ow) {
  auto axis = [](int in, int out) {
    const double scale = static_cast<double>(out) / in, s = std::min(scale, 1.0), support = 2.0 / s;
    std::vector<std::vector<std::pair<int, double>>> taps(static_cast<std::size_t>(out));
    for (int o = 0; o < out; ++o) {
      const double centre = (o + 0.5) / scale - 0.5;
      double total = 0;
      for (int i = static_cast<int>(std::floor(centre - support)); i <= static_cast<int>(std::ceil(centre + support)); ++i) {
        const double wgt = cubic((i - centre) * s);
        if (wgt == 0) continue;
        taps[static_cast<std::size_t>(o)].push_back({std::clamp(i, 0, in - 1), wgt});
        total += wgt;
      }
      for (auto& t : taps[static_cast<std::size_t>(o)]) t.second /= total;
    }
    return taps;
  };
  const auto ty = axis(h, oh), tx = axis(w, ow);
  std::vector<double> mid(static_cast<std::size_t>(h * ow * c), 0.0), out(static_cast<std::size_t>(oh * ow * c), 0.0);
  for (int r = 0; r < h; ++r)
    for (int o = 0; o < ow; ++o)
      for (const auto& [i, wgt] : tx[static_cast<std::size_t>(o)])
        for (int ch = 0; ch < c; ++ch)
          mid[static_cast<std::size_t>((r * ow + o) * c + ch)] += wgt * px[static_cast<std::size_t>((r * w + i) * c + ch)];
  for (int o = 0; o < oh; ++o)
    for (const auto& [i, wgt] : ty[static_cast<std::size_t>(o)])
      for (int x = 0; x < ow; ++x)
        for (int ch = 0; ch < c; ++ch)
          out[static_cast<std::size_t>((o * ow + x) * c + ch)] += wgt * mid[static_cast<std::size_t>((i * ow + x) * c + ch)];
  return out;
}

/// Writes an SVHN-layout .mat file: X 32 × 32 × 3 × n uint8 (column-major), y n × 1 double.
void write_svhn_mat(const fs::path& p, int n, mat_ft version, const std::vector<double>& labels, bool with_y = true,
                    std::size_t x_rows = 32) {
  mat_t* m = Mat_CreateVer(p.string().c_str(), nullptr, version);
  REQUIRE(m != nullptr);
  std::vector<std::uint8_t> x(x_rows * 32 * 3 * static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i)
    for (int ch = 0; ch < 3; ++ch)
      for (int c = 0; c < 32; ++c)
        for (std::size_t r = 0; r < x_rows; ++r)
          x[r + x_rows * static_cast<std::size_t>(c) + x_rows * 32 * static_cast<std::size_t>(ch) +
            x_rows * 96 * static_cast<std::size_t>(i)] = pattern(i, static_cast<int>(r), c, ch);
  std::size_t xd[4] = {x_rows, 32, 3, static_cast<std::size_t>(n)};
  matvar_t* xv = Mat_VarCreate("X", MAT_C_UINT8, MAT_T_UINT8, 4, xd, x.data(), 0);
  REQUIRE(Mat_VarWrite(m, xv, MAT_COMPRESSION_NONE) == 0);
  Mat_VarFree(xv);
  if (with_y) {
    std::vector<double> y = labels;
    std::size_t yd[2] = {y.size(), 1};
    matvar_t* yv = Mat_VarCreate("y", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, yd, y.data(), 0);
    REQUIRE(Mat_VarWrite(m, yv, MAT_COMPRESSION_NONE) == 0);
    Mat_VarFree(yv);
  }
  Mat_Close(m);
}

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const dpvae::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("images: PNG decoding is pixel-exact, grey and colour both ways") {
  const fs::path d = fresh_dir("png");
  write_png(d / "rgb.png", make_image(0, 5, 7, 3), 5, 7, 3);
  write_png(d / "grey.png", make_image(1, 6, 4, 1), 6, 4, 1);
  int h = 0, w = 0;
  const auto rgb = images::decode_image(bytes_of(d / "rgb.png"), "rgb.png", 3, h, w);
  CHECK(h == 5);
  CHECK(w == 7);
  CHECK(rgb == make_image(0, 5, 7, 3));
  const auto grey3 = images::decode_image(bytes_of(d / "grey.png"), "grey.png", 3, h, w);
  REQUIRE(grey3.size() == 6u * 4u * 3u);
  const auto g = make_image(1, 6, 4, 1);
  for (std::size_t i = 0; i < g.size(); ++i)
    for (std::size_t ch = 0; ch < 3; ++ch) CHECK(grey3[3 * i + ch] == g[i]);  // replicated into R = G = B
  const auto luma = images::decode_image(bytes_of(d / "rgb.png"), "rgb.png", 1, h, w);
  const auto px = make_image(0, 5, 7, 3);
  for (std::size_t i = 0; i < luma.size(); ++i) {  // stb's (77 R + 150 G + 29 B) >> 8
    const int expect = (77 * px[3 * i] + 150 * px[3 * i + 1] + 29 * px[3 * i + 2]) >> 8;
    CHECK(std::abs(static_cast<int>(luma[i]) - expect) <= 1);
  }
}

/// A CMYK JPEG (libjpeg, quality 100, no subsampling, with the Adobe marker libjpeg writes for
/// CMYK) of the 4-byte pixels `px` (h × w × 4, the values stored as given).
std::vector<std::uint8_t> cmyk_jpeg(const std::vector<std::uint8_t>& px, int h, int w) {
  jpeg_compress_struct c{};
  jpeg_error_mgr err{};
  c.err = jpeg_std_error(&err);
  jpeg_create_compress(&c);
  unsigned char* buf = nullptr;
  unsigned long size = 0;
  jpeg_mem_dest(&c, &buf, &size);
  c.image_width = static_cast<JDIMENSION>(w);
  c.image_height = static_cast<JDIMENSION>(h);
  c.input_components = 4;
  c.in_color_space = JCS_CMYK;
  jpeg_set_defaults(&c);
  jpeg_set_colorspace(&c, JCS_CMYK);
  jpeg_set_quality(&c, 100, TRUE);
  for (int i = 0; i < 4; ++i) c.comp_info[i].h_samp_factor = c.comp_info[i].v_samp_factor = 1;
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row = const_cast<std::uint8_t*>(px.data()) + static_cast<std::size_t>(c.next_scanline) * static_cast<std::size_t>(w) * 4;
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  std::vector<std::uint8_t> out(buf, buf + size);
  jpeg_destroy_compress(&c);
  std::free(buf);
  return out;
}

TEST_CASE("images: a CMYK JPEG becomes RGB as PIL converts it (R = stored C · stored K / 255, Adobe's inverted convention)") {
  constexpr int h = 16, w = 24;
  std::vector<std::uint8_t> px(static_cast<std::size_t>(h * w * 4));
  for (int r = 0; r < h; ++r)
    for (int c = 0; c < w; ++c)
      for (int ch = 0; ch < 4; ++ch)  // smooth, and every channel its own gradient
        px[static_cast<std::size_t>((r * w + c) * 4 + ch)] =
            static_cast<std::uint8_t>(ch == 3 ? 255 - 6 * r : ch == 0 ? 40 + 8 * c : ch == 1 ? 250 - 9 * c : 60 + 10 * r);
  const std::vector<std::uint8_t> jpeg = cmyk_jpeg(px, h, w);
  int hh = 0, ww = 0;
  const auto rgb = images::decode_image(jpeg, "cmyk.jpg", 3, hh, ww);
  REQUIRE(hh == h);
  REQUIRE(ww == w);
  double err = 0;
  for (int i = 0; i < h * w; ++i)
    for (int ch = 0; ch < 3; ++ch)
      err += std::abs(rgb[static_cast<std::size_t>(3 * i + ch)] -
                      px[static_cast<std::size_t>(4 * i + ch)] * px[static_cast<std::size_t>(4 * i + 3)] / 255.0);
  CHECK(err / (3.0 * h * w) < 2.0);  // quality 100: the DCT's rounding only
  const auto grey = images::decode_image(jpeg, "cmyk.jpg", 1, hh, ww);
  REQUIRE(grey.size() == static_cast<std::size_t>(h * w));
  for (int i = 0; i < h * w; ++i)  // stb's luma of the RGB just decoded
    CHECK(grey[static_cast<std::size_t>(i)] == (rgb[static_cast<std::size_t>(3 * i)] * 77 + rgb[static_cast<std::size_t>(3 * i + 1)] * 150 +
                                                rgb[static_cast<std::size_t>(3 * i + 2)] * 29) >> 8);
}

TEST_CASE("images: JPEG decoding, truncated and bad files named") {
  const fs::path d = fresh_dir("jpeg");
  const auto px = smooth_image(0, 24, 40);
  write_jpeg(d / "a.jpg", px, 24, 40);
  int h = 0, w = 0;
  const auto got = images::decode_image(bytes_of(d / "a.jpg"), "a.jpg", 3, h, w);
  CHECK(h == 24);
  CHECK(w == 40);
  double err = 0;
  for (std::size_t i = 0; i < px.size(); ++i) err += std::abs(static_cast<double>(got[i]) - px[i]);
  CHECK(err / static_cast<double>(px.size()) < 3.0);  // quality 100, chroma subsampled
  // Grey from a colour JPEG: its luma channel Y = 0.299 R + 0.587 G + 0.114 B (JFIF).
  const auto luma = images::decode_image(bytes_of(d / "a.jpg"), "a.jpg", 1, h, w);
  REQUIRE(luma.size() == px.size() / 3);
  err = 0;
  for (std::size_t i = 0; i < luma.size(); ++i)
    err += std::abs(luma[i] - (0.299 * px[3 * i] + 0.587 * px[3 * i + 1] + 0.114 * px[3 * i + 2]));
  CHECK(err / static_cast<double>(luma.size()) < 2.0);
  // Chroma subsampled 4:2:0 (stb_image_write at quality 90, as CelebA's files): upsampled back.
  REQUIRE(stbi_write_jpg((d / "s.jpg").string().c_str(), 40, 24, 3, px.data(), 90) != 0);
  const auto sub = images::decode_image(bytes_of(d / "s.jpg"), "s.jpg", 3, h, w);
  REQUIRE(sub.size() == px.size());
  err = 0;
  for (std::size_t i = 0; i < px.size(); ++i) err += std::abs(static_cast<double>(sub[i]) - px[i]);
  CHECK(err / static_cast<double>(px.size()) < 4.0);
  // A grey JPEG into RGB: R = G = B, each the grey level.
  std::vector<std::uint8_t> grey(24 * 40);
  for (std::size_t i = 0; i < grey.size(); ++i) grey[i] = px[3 * i + 1];
  REQUIRE(stbi_write_jpg((d / "g.jpg").string().c_str(), 40, 24, 1, grey.data(), 100) != 0);
  const auto rgb = images::decode_image(bytes_of(d / "g.jpg"), "g.jpg", 3, h, w);
  REQUIRE(rgb.size() == 3 * grey.size());
  err = 0;
  bool replicated = true;
  for (std::size_t i = 0; i < grey.size(); ++i) {
    replicated = replicated && rgb[3 * i] == rgb[3 * i + 1] && rgb[3 * i] == rgb[3 * i + 2];
    err += std::abs(static_cast<double>(rgb[3 * i]) - grey[i]);
  }
  CHECK(replicated);
  CHECK(err / static_cast<double>(grey.size()) < 2.0);
  // Corrupt data libjpeg recovers from (stray bytes before the end-of-image marker: a
  // warning) decodes to the same pixels, as PIL accepts it.
  auto stray = bytes_of(d / "a.jpg");
  REQUIRE(stray.size() > 2);
  stray.insert(stray.end() - 2, {0x12, 0x34, 0x56});
  CHECK(images::decode_image(stray, "stray.jpg", 3, h, w) == got);
  // Bytes after the end-of-image marker are ignored, however many (PIL ignores them too).
  auto trailing = bytes_of(d / "a.jpg");
  trailing.insert(trailing.end(), 2000, 0x5A);
  CHECK(images::decode_image(trailing, "trail.jpg", 3, h, w) == got);
  // A fatal error after a warning still refuses the file: an unknown marker (FF 27) in the
  // entropy-coded data is first "premature end of data segment" (a warning), then
  // "Unsupported marker type 0x27" (fatal); PIL refuses it ("broken data stream").
  auto marker = bytes_of(d / "a.jpg");
  std::size_t sos = 0;
  for (std::size_t i = 2; i + 1 < marker.size(); ++i)
    if (marker[i] == 0xFF && marker[i + 1] == 0xDA) {
      sos = i;
      break;
    }
  REQUIRE(sos > 0);
  const std::size_t data = sos + 2 + (std::size_t{marker[sos + 2]} << 8 | marker[sos + 3]);
  REQUIRE(data + 40 < marker.size());
  marker.insert(marker.begin() + static_cast<std::ptrdiff_t>(data + 20), {0xFF, 0x27});
  CHECK(error_of([&] { images::decode_image(marker, "marker.jpg", 3, h, w); }) ==
        "marker.jpg: cannot decode (Unsupported marker type 0x27)");
  // Truncation is found from the data running out, not from where an FF D9 lies: a comment
  // segment holding FF D9 does not make a file cut in half whole.
  std::vector<std::uint8_t> commented = {0xFF, 0xD8, 0xFF, 0xFE, 0x00, 0x04, 0xFF, 0xD9};
  const auto original = bytes_of(d / "a.jpg");
  commented.insert(commented.end(), original.begin() + 2, original.end());
  CHECK(images::decode_image(commented, "c.jpg", 3, h, w) == got);
  commented.resize(commented.size() / 2);
  CHECK(error_of([&] { images::decode_image(commented, "c.jpg", 3, h, w); }).find("c.jpg: truncated JPEG") == 0);
  std::vector<std::uint8_t> headless = {0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x02, 0xFF, 0xD9};
  // A header that is not a JPEG's is named.
  CHECK(error_of([&] { images::decode_image(headless, "bad.jpg", 3, h, w); }) == "bad.jpg: cannot decode (JPEG datastream contains no image)");
  auto bytes = bytes_of(d / "a.jpg");
  bytes.resize(bytes.size() / 2);
  CHECK(error_of([&] { images::decode_image(bytes, "half.jpg", 3, h, w); }).find("half.jpg: truncated JPEG") == 0);
  CHECK(error_of([&] { images::decode_image({}, "empty.png", 3, h, w); }) == "empty.png: empty file");
  // What stb would decode but PIL refuses: a PNG with a bad CRC or cut short, a PGM or an
  // uncompressed BMP with fewer pixel bytes than their headers say.
  const fs::path png = d / "p.png";
  write_png(png, make_image(0, 6, 5, 3), 6, 5, 3);
  auto pb = bytes_of(png);
  REQUIRE(pb.size() > 40);
  CHECK(images::decode_image(pb, "p.png", 3, h, w).size() == 90u);
  auto flipped = pb;
  flipped[pb.size() - 20] ^= 0x10;  // inside IDAT
  CHECK(error_of([&] { images::decode_image(flipped, "p.png", 3, h, w); }) == "p.png: corrupt PNG (CRC mismatch in a chunk)");
  pb.resize(pb.size() - 12);  // IEND gone
  CHECK(error_of([&] { images::decode_image(pb, "p.png", 3, h, w); }) == "p.png: truncated PNG (no IEND chunk)");
  std::vector<std::uint8_t> pgm{'P', '5', '\n', '#', ' ', 'c', '\n', '4', ' ', '3', '\n', '2', '5', '5', '\n'};
  for (int i = 0; i < 12; ++i) pgm.push_back(static_cast<std::uint8_t>(20 * i));
  CHECK(images::decode_image(pgm, "g.pgm", 1, h, w)[11] == 220);
  pgm.pop_back();
  CHECK(error_of([&] { images::decode_image(pgm, "g.pgm", 1, h, w); }) == "g.pgm: truncated PGM (fewer pixel bytes than the header's size)");
  REQUIRE(stbi_write_bmp((d / "b.bmp").string().c_str(), 5, 6, 3, make_image(1, 6, 5, 3).data()) != 0);
  auto bmp = bytes_of(d / "b.bmp");
  CHECK(images::decode_image(bmp, "b.bmp", 3, h, w) == make_image(1, 6, 5, 3));
  bmp.resize(bmp.size() - 10);
  CHECK(error_of([&] { images::decode_image(bmp, "b.bmp", 3, h, w); }) == "b.bmp: truncated BMP (fewer pixel bytes than the header's size)");
  CHECK(error_of([&] { images::decode_image({'n', 'o', 't', ' ', 'a', 'n'}, "x.png", 3, h, w); }).find("x.png: cannot decode (") == 0);
  // stb reads a BMP with a "negative" compression field as raw pixels: truncation is caught.
  bmp = bytes_of(d / "b.bmp");
  for (int i = 30; i < 34; ++i) bmp[static_cast<std::size_t>(i)] = 0x91;
  CHECK(images::decode_image(bmp, "b.bmp", 3, h, w) == make_image(1, 6, 5, 3));
  bmp.resize(bmp.size() - 10);
  CHECK(error_of([&] { images::decode_image(bmp, "b.bmp", 3, h, w); }) == "b.bmp: truncated BMP (fewer pixel bytes than the header's size)");
  // A 63-byte BMP whose header claims 1536 × 393470 pixels (found by fuzz_image: stb allocated
  // 1.8 GB for it) is refused from its header.
  const std::vector<std::uint8_t> huge = {
      0x42, 0x4d, 0x9a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x36, 0x00, 0x00, 0x00, 0x28, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00,
      0x00, 0xfe, 0x00, 0x06, 0x00, 0x01, 0x00, 0x18, 0x00, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91,
      0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0x91, 0xf9, 0x00, 0x00, 0xff, 0x09, 0x7e, 0x59, 0x34, 0xed, 0xc8};
  CHECK(error_of([&] { images::decode_image(huge, "huge.bmp", 3, h, w); }) ==
        "huge.bmp: image size 1536 × 393470 is out of range (at most 2^26 pixels)");
}

TEST_CASE("images: centre crop and resize against an independent computation") {
  const auto px = make_image(3, 11, 9, 3);
  const auto crop = images::centre_crop(px.data(), 11, 9, 3, 5, 4);
  for (int r = 0; r < 5; ++r)
    for (int c = 0; c < 4; ++c)
      for (int ch = 0; ch < 3; ++ch) CHECK(crop[static_cast<std::size_t>((r * 4 + c) * 3 + ch)] == pattern(3, r + 3, c + 2, ch));
  CHECK(error_of([&] { images::centre_crop(px.data(), 11, 9, 3, 12, 4); }).find("does not fit") != std::string::npos);
  // Shrinking (antialiased) and growing, on a smooth image and on the sharp pattern.
  for (const auto& t : {std::tuple{smooth_image(1, 140, 140), 140, 140, 64, 64}, std::tuple{smooth_image(2, 30, 20), 30, 20, 45, 50},
                        std::tuple{make_image(4, 32, 32, 3), 32, 32, 13, 20}}) {
    const auto& src = std::get<0>(t);
    const int h = std::get<1>(t), w = std::get<2>(t), oh = std::get<3>(t), ow = std::get<4>(t);
    const auto got = images::resize(src.data(), h, w, 3, oh, ow);
    const auto want = reference_resize(src, h, w, 3, oh, ow);
    double worst = 0, mean = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
      const double e = std::abs(got[i] - std::clamp(want[i], 0.0, 255.0));
      worst = std::max(worst, e);
      mean += e / static_cast<double>(got.size());
    }
    INFO(h << "x" << w << " -> " << oh << "x" << ow << ": worst " << worst << ", mean " << mean);
    CHECK(worst <= 1.0);  // rounding
    CHECK(mean < 0.5);
  }
}

TEST_CASE("images: a folder, flat or one sub-folder per class; bad files found first or skipped") {
  const fs::path d = fresh_dir("folder");
  fs::create_directories(d / "cat");
  fs::create_directories(d / "dog");
  fs::create_directories(d / "empty");
  write_png(d / "dog" / "b.png", make_image(1, 8, 10, 3), 8, 10, 3);
  write_png(d / "dog" / "a.png", make_image(0, 8, 10, 3), 8, 10, 3);
  write_png(d / "cat" / "z.PNG", make_image(2, 8, 10, 1), 8, 10, 1);
  images::DecodeOptions o;
  const images::ImageFolder f = images::load_image_folder(d, o);
  REQUIRE(f.classes == std::vector<std::string>{"cat", "dog"});
  REQUIRE(f.images.count == 3);
  CHECK(f.images.labels == std::vector<int>{0, 1, 1});
  CHECK(f.images.height == 8);
  CHECK(f.images.width == 10);
  CHECK(f.images.channels == 3);
  const auto a = make_image(0, 8, 10, 3);
  CHECK(std::equal(a.begin(), a.end(), f.images.image(1)));  // dog/a.png before dog/b.png
  const auto floats = f.images.to_float(1, 2);
  CHECK(floats(0, 5) == doctest::Approx(a[5] / 255.0));

  // A wrong-sized file: named, with the count; skipped on request with its label.
  write_png(d / "dog" / "c.png", make_image(5, 9, 10, 3), 9, 10, 3);
  write_bytes(d / "dog" / "d.png", {1, 2, 3});
  const std::string e = error_of([&] { images::load_image_folder(d, o); });
  CHECK(e.find((d / "dog" / "c.png").string() + ": 10 × 9 pixels where the set's images are 10 × 8") == 0);
  CHECK(e.find("(and 1 more bad files; --skip-bad-images leaves them out)") != std::string::npos);
  o.skip_bad = true;
  const images::ImageFolder s = images::load_image_folder(d, o);
  CHECK(s.images.count == 3);
  CHECK(s.report.skipped == 2);
  CHECK(s.images.labels == std::vector<int>{0, 1, 1});
  // With a size, every image is centre-cropped to a square and resized.
  o.skip_bad = false;
  fs::remove(d / "dog" / "d.png");
  o.geometry.crop_height = o.geometry.crop_width = -1;
  o.geometry.height = o.geometry.width = 6;
  const images::ImageFolder r = images::load_image_folder(d, o);
  CHECK(r.images.count == 4);
  CHECK(r.images.height == 6);
  const auto sq = images::centre_crop(make_image(2, 8, 10, 1).data(), 8, 10, 1, 8, 8);
  // cat/z.PNG is grey: replicated to RGB, cropped to 8 × 8, resized to 6 × 6.
  std::vector<std::uint8_t> sq3(sq.size() * 3);
  for (std::size_t i = 0; i < sq.size(); ++i) sq3[3 * i] = sq3[3 * i + 1] = sq3[3 * i + 2] = sq[i];
  const auto want = images::resize(sq3.data(), 8, 8, 3, 6, 6);
  CHECK(std::equal(want.begin(), want.end(), r.images.image(0)));
  // Image files beside class folders are refused; an empty folder too.
  write_png(d / "stray.png", make_image(0, 8, 10, 3), 8, 10, 3);
  CHECK(error_of([&] { images::load_image_folder(d, o); }).find("holds both class sub-folders and image files (stray.png)") !=
        std::string::npos);
  CHECK(error_of([&] { images::load_image_folder(d / "empty", o); }).find("no image files") != std::string::npos);
  CHECK(error_of([&] { images::load_image_folder(d / "missing", o); }).find("no image folder at") == 0);
}

TEST_CASE("images: the decoded-set cache is read back while its sources are unchanged, and refreshed when they change") {
  const fs::path d = fresh_dir("cache");
  fs::create_directories(d / "cat");
  fs::create_directories(d / "dog");
  write_png(d / "cat" / "a.png", make_image(0, 8, 10, 3), 8, 10, 3);
  write_png(d / "dog" / "b.png", make_image(1, 8, 10, 3), 8, 10, 3);
  write_png(d / "dog" / "c.png", make_image(2, 8, 10, 3), 8, 10, 3);
  images::DecodeOptions o;
  o.cache = true;
  const images::ImageFolder first = images::load_image_folder(d, o);
  const fs::path file = d / ".dpvae-cache" / "folder-3c.dpvae-images";
  CHECK(first.report.cache == "written to " + file.string());
  REQUIRE(fs::exists(file));
  const images::ImageFolder second = images::load_image_folder(d, o);  // the cache folder is not a class
  CHECK(second.report.cache == "read from " + file.string());
  CHECK(second.images.pixels == first.images.pixels);
  CHECK(second.images.labels == first.images.labels);
  CHECK(second.classes == first.classes);
  CHECK(second.images.count == 3);

  // A source rewritten (another size): decoded again, with the new pixels.
  write_png(d / "dog" / "c.png", make_image(7, 8, 10, 3), 8, 10, 3);
  fs::last_write_time(d / "dog" / "c.png", fs::last_write_time(d / "dog" / "c.png") + std::chrono::seconds(5));
  const images::ImageFolder third = images::load_image_folder(d, o);
  CHECK(third.report.cache == "written to " + file.string());
  const auto seven = make_image(7, 8, 10, 3);
  CHECK(std::equal(seven.begin(), seven.end(), third.images.image(2)));
  // Another recipe (a resize) has its own file; a file added changes the fingerprint.
  images::DecodeOptions r = o;
  r.geometry.height = r.geometry.width = 4;
  r.geometry.crop_height = r.geometry.crop_width = -1;
  CHECK(images::load_image_folder(d, r).report.cache.find("written to") == 0);
  CHECK(images::load_image_folder(d, o).report.cache.find("read from") == 0);
  write_png(d / "cat" / "d.png", make_image(3, 8, 10, 3), 8, 10, 3);
  const images::ImageFolder grown = images::load_image_folder(d, o);
  CHECK(grown.report.cache.find("written to") == 0);
  CHECK(grown.images.count == 4);

  // A damaged cache (one pixel byte flipped, or cut short) is decoded again, not trusted.
  for (const bool truncate : {false, true}) {
    auto b = bytes_of(file);
    if (truncate) b.resize(b.size() - 7);
    else b[b.size() - 20] ^= 0x40;
    write_bytes(file, b);
    std::string why;
    CHECK_FALSE(images::read_cache(file, images::cache_fingerprint("x", {}), &why));
    const images::ImageFolder again = images::load_image_folder(d, o);
    CHECK(again.report.cache.find("written to") == 0);
    CHECK(again.images.pixels == grown.images.pixels);
  }

  // read_cache names why it declines; write/read round-trip several arrays with labels and text.
  ImageArray a;
  a.count = 2, a.height = 1, a.width = 3, a.channels = 1;
  a.pixels = {1, 2, 3, 4, 5, 6};
  a.labels = {4, 0};
  ImageArray empty;
  const fs::path f2 = d / "two.bin";
  const std::uint64_t fp = images::cache_fingerprint("recipe", {d / "cat" / "a.png"});
  CHECK(fp != images::cache_fingerprint("other recipe", {d / "cat" / "a.png"}));
  REQUIRE(images::write_cache(f2, fp, {&a, &empty}, {"line one", ""}));
  const auto back = images::read_cache(f2, fp);
  REQUIRE(back);
  REQUIRE(back->arrays.size() == 2);
  CHECK(back->arrays[0].pixels == a.pixels);
  CHECK(back->arrays[0].labels == a.labels);
  CHECK(back->arrays[1].count == 0);
  CHECK(back->text == std::vector<std::string>{"line one", ""});
  std::string why;
  CHECK_FALSE(images::read_cache(f2, fp + 1, &why));
  CHECK(why.find("the sources changed") == 0);
  CHECK_FALSE(images::read_cache(d / "none.bin", fp, &why));
  CHECK(why == "no cache file");
  // A source that cannot be examined enters by its path: no throw (the decode names it).
  CHECK(images::cache_fingerprint("r", {d / "missing.png"}) == images::cache_fingerprint("r", {d / "missing.png"}));
  CHECK(images::cache_fingerprint("r", {d / "missing.png"}) != images::cache_fingerprint("r", {d / "other.png"}));

  // DPVAE_IMAGE_CACHE: a folder elsewhere, or off.
  const fs::path elsewhere = fresh_dir("cache_elsewhere");
  ::setenv("DPVAE_IMAGE_CACHE", elsewhere.c_str(), 1);
  CHECK(images::load_image_folder(d, o).report.cache.find("written to " + elsewhere.string()) == 0);
  ::setenv("DPVAE_IMAGE_CACHE", "off", 1);
  CHECK(images::load_image_folder(d, o).report.cache == "not written: caching is off (DPVAE_IMAGE_CACHE=off)");
  ::setenv("DPVAE_IMAGE_CACHE", (d / "cat" / "a.png").c_str(), 1);  // a file, not a folder
  CHECK(images::load_image_folder(d, o).report.cache.find("is not a folder that can be written") != std::string::npos);
  // With caching off, a broken link is the decode's to report (or to skip), not the fingerprint's.
  ::setenv("DPVAE_IMAGE_CACHE", "off", 1);
  fs::create_symlink(d / "nowhere.png", d / "cat" / "dangling.png");
  images::DecodeOptions skip = o;
  skip.skip_bad = true;
  CHECK(images::load_image_folder(d, skip).report.skipped == 1);
  ::unsetenv("DPVAE_IMAGE_CACHE");
  CHECK(images::load_image_folder(d, skip).report.skipped == 1);  // and with caching on
  fs::remove(d / "cat" / "dangling.png");
  ::unsetenv("DPVAE_IMAGE_CACHE");
}

TEST_CASE("images: SVHN .mat files, v5 and v7.3, the layout and the label mapping") {
  const fs::path d = fresh_dir("svhn");
  const std::vector<double> y{1, 10, 5, 10, 9};
  for (const auto version : {MAT_FT_MAT5, MAT_FT_MAT73}) {
    const fs::path p = d / (version == MAT_FT_MAT5 ? "v5.mat" : "v73.mat");
    write_svhn_mat(p, 5, version, y);
    const ImageArray a = images::read_svhn_mat(p);
    REQUIRE(a.count == 5);
    CHECK(a.height == 32);
    CHECK(a.width == 32);
    CHECK(a.channels == 3);
    CHECK(a.labels == std::vector<int>{1, 0, 5, 0, 9});
    bool same = true;
    for (int i = 0; i < 5; ++i)
      for (int r = 0; r < 32; ++r)
        for (int c = 0; c < 32; ++c)
          for (int ch = 0; ch < 3; ++ch) same = same && a.image(i)[(r * 32 + c) * 3 + ch] == pattern(i, r, c, ch);
    CHECK(same);
  }
  write_svhn_mat(d / "noy.mat", 2, MAT_FT_MAT5, {}, false);
  CHECK(error_of([&] { images::read_svhn_mat(d / "noy.mat"); }).find("no variable 'y'") != std::string::npos);
  write_svhn_mat(d / "label.mat", 2, MAT_FT_MAT5, {3, 11});
  CHECK(error_of([&] { images::read_svhn_mat(d / "label.mat"); }).find("label 2 is 11") != std::string::npos);
  write_svhn_mat(d / "count.mat", 3, MAT_FT_MAT5, {3, 4});
  CHECK(error_of([&] { images::read_svhn_mat(d / "count.mat"); }).find("y is 2 × 1, not 3 × 1") != std::string::npos);
  write_svhn_mat(d / "shape.mat", 2, MAT_FT_MAT5, {1, 2}, true, 28);
  CHECK(error_of([&] { images::read_svhn_mat(d / "shape.mat"); }).find("X is 28 × 32 × 3 × 2, not 32 × 32 × 3 × N") !=
        std::string::npos);
  write_bytes(d / "junk.mat", {'M', 'A', 'T', 'L', 'A', 'B'});
  CHECK(error_of([&] { images::read_svhn_mat(d / "junk.mat"); }).find("not a MATLAB .mat file") != std::string::npos);
}

TEST_CASE("images: CelebA from a folder and from the zip, the partition, the 140 crop and resize") {
  const fs::path d = fresh_dir("celeba");
  fs::create_directories(d / "img_align_celeba");
  std::string partition;
  std::vector<std::vector<std::uint8_t>> originals;
  const int splits[6] = {0, 2, 0, 1, 0, 2};
  for (int i = 0; i < 6; ++i) {
    char name[32];
    std::snprintf(name, sizeof name, "%06d.jpg", i + 1);
    originals.push_back(smooth_image(i, 218, 178));
    write_jpeg(d / "img_align_celeba" / name, originals.back(), 218, 178);
    partition += std::string(name) + " " + std::to_string(splits[i]) + "\r\n";
  }
  std::ofstream(d / "list_eval_partition.txt") << partition;
  images::DecodeOptions o;
  const images::Celeba c = images::load_celeba(d, 32, o);
  CHECK(c.train.count == 3);
  CHECK(c.validation.count == 1);
  CHECK(c.test.count == 2);
  CHECK(c.train.height == 32);
  CHECK(c.train.channels == 3);
  // The second test image is 000006.jpg: its decoded pixels, crop 140 × 140 (rows 39..178,
  // columns 19..158), resize to 32 × 32.
  int h = 0, w = 0;
  const auto dec = images::decode_image(bytes_of(d / "img_align_celeba" / "000006.jpg"), "6", 3, h, w);
  std::vector<std::uint8_t> crop;
  for (int r = 39; r < 179; ++r)
    for (int col = 19; col < 159; ++col)
      for (int ch = 0; ch < 3; ++ch) crop.push_back(dec[static_cast<std::size_t>((r * 178 + col) * 3 + ch)]);
  const auto want = reference_resize(crop, 140, 140, 3, 32, 32);
  double worst = 0;
  for (std::size_t i = 0; i < want.size(); ++i) worst = std::max(worst, std::abs(c.test.image(1)[i] - std::clamp(want[i], 0.0, 255.0)));
  CHECK(worst <= 1.0);

  // The release's zip (entries under img_align_celeba/) gives the same arrays.
  {
    int err = 0;
    zip_t* z = zip_open((d / "img_align_celeba.zip").string().c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
    REQUIRE(z != nullptr);
    for (const auto& e : fs::directory_iterator(d / "img_align_celeba")) {
      zip_source_t* s = zip_source_file(z, e.path().string().c_str(), 0, -1);
      REQUIRE(s != nullptr);
      REQUIRE(zip_file_add(z, ("img_align_celeba/" + e.path().filename().string()).c_str(), s, ZIP_FL_ENC_UTF_8) >= 0);
    }
    REQUIRE(zip_close(z) == 0);
  }
  fs::rename(d / "img_align_celeba", d / "moved");
  const images::Celeba cz = images::load_celeba(d, 32, o);
  CHECK(cz.train.pixels == c.train.pixels);
  CHECK(cz.test.pixels == c.test.pixels);
  // Cached, the second load reads the decoded splits back, the same bytes.
  images::DecodeOptions oc = o;
  oc.cache = true;
  CHECK(images::load_celeba(d, 32, oc).report.cache.find("written to") == 0);
  const images::Celeba cached = images::load_celeba(d, 32, oc);
  CHECK(cached.report.cache.find("read from") == 0);
  CHECK(cached.train.pixels == c.train.pixels);
  CHECK(cached.validation.pixels == c.validation.pixels);
  CHECK(cached.test.pixels == c.test.pixels);
  fs::rename(d / "moved", d / "img_align_celeba");
  CHECK(images::load_celeba(d, 32, oc).report.cache.find("written to") == 0);  // the folder, not the zip: other sources

  // A partition file that does not match the folder; a wrong-sized image; a bad line.
  write_jpeg(d / "img_align_celeba" / "000007.jpg", originals[0], 218, 178);
  CHECK(error_of([&] { images::load_celeba(d, 32, o); }).find("000007.jpg is not in") != std::string::npos);
  fs::remove(d / "img_align_celeba" / "000007.jpg");
  write_jpeg(d / "img_align_celeba" / "000002.jpg", smooth_image(9, 100, 178), 100, 178);
  CHECK(error_of([&] { images::load_celeba(d, 32, o); }).find("000002.jpg: 178 × 100 pixels where 178 × 218 are expected") !=
        std::string::npos);
  o.skip_bad = true;
  const images::Celeba skipped = images::load_celeba(d, 32, o);
  CHECK(skipped.report.skipped == 1);
  CHECK(skipped.test.count == 1);
  std::ofstream(d / "list_eval_partition.txt") << "000001.jpg 3\n";
  CHECK(error_of([&] { images::load_celeba(d, 32, o); }).find("list_eval_partition.txt:1: expected 'NAME.jpg P'") !=
        std::string::npos);
  fs::remove(d / "list_eval_partition.txt");
  CHECK(error_of([&] { images::load_celeba(d, 32, o); }).find("no CelebA partition file") == 0);
}

TEST_CASE("image arrays: .npy images and labels, the held-out split") {
  dpvae::data::NpyArray u8;
  u8.shape = {4, 2, 3, 3};
  u8.dtype = "uint8", u8.itemsize = 1;
  for (int i = 0; i < 72; ++i) u8.bytes.push_back(static_cast<unsigned char>(3 * i));
  const ImageArray a = dpvae::data::images_from_npy(u8, "a.npy");
  CHECK(a.count == 4);
  CHECK(a.channels == 3);
  CHECK(a.image(2)[5] == 3 * (2 * 18 + 5));
  dpvae::data::NpyArray f32;
  f32.shape = {2, 2, 2};
  f32.dtype = "float32", f32.itemsize = 4;
  for (float v : {0.0f, 1.0f, 0.5f, 0.2f, 0.25f, 0.75f, 1.0f, 0.0f}) {
    const auto* p = reinterpret_cast<const unsigned char*>(&v);
    f32.bytes.insert(f32.bytes.end(), p, p + 4);
  }
  const ImageArray b = dpvae::data::images_from_npy(f32, "b.npy");
  CHECK(b.pixels == std::vector<std::uint8_t>{0, 255, 128, 51, 64, 191, 255, 0});
  float bad = 1.5f;
  std::memcpy(f32.bytes.data() + 12, &bad, 4);
  CHECK(error_of([&] { dpvae::data::images_from_npy(f32, "b.npy"); }).find("element 3 is 1.5") != std::string::npos);
  dpvae::data::NpyArray chw = u8;
  chw.shape = {4, 3, 3, 2};  // N × C × H × W with C = 3
  CHECK(error_of([&] { dpvae::data::images_from_npy(chw, "c.npy"); }).find("looks channels-first") != std::string::npos);
  dpvae::data::NpyArray labels;
  labels.shape = {4};
  labels.dtype = "int64", labels.itemsize = 8;
  for (std::int64_t v : {3, 0, 2, 7}) {
    const auto* p = reinterpret_cast<const unsigned char*>(&v);
    labels.bytes.insert(labels.bytes.end(), p, p + 8);
  }
  CHECK(dpvae::data::labels_from_npy(labels, 4, "l.npy") == std::vector<int>{3, 0, 2, 7});
  CHECK(error_of([&] { dpvae::data::labels_from_npy(labels, 5, "l.npy"); }) == "l.npy: 4 labels for 5 images");

  // The split: a permutation, deterministic, disjoint, labels kept with their images.
  ImageArray many;
  many.count = 50, many.height = 1, many.width = 1, many.channels = 1;
  for (int i = 0; i < 50; ++i) many.pixels.push_back(static_cast<std::uint8_t>(i)), many.labels.push_back(i);
  const auto [train, test] = dpvae::data::split_held_out(many, 0.2, 7);
  CHECK(train.count == 40);
  CHECK(test.count == 10);
  std::vector<int> seen(train.labels);
  seen.insert(seen.end(), test.labels.begin(), test.labels.end());
  for (Index i = 0; i < train.count; ++i) CHECK(train.pixels[static_cast<std::size_t>(i)] == train.labels[static_cast<std::size_t>(i)]);
  std::sort(seen.begin(), seen.end());
  for (int i = 0; i < 50; ++i) CHECK(seen[static_cast<std::size_t>(i)] == i);
  CHECK(dpvae::data::split_held_out(many, 0.2, 7).second.labels == test.labels);
  const std::vector<std::int64_t> order = dpvae::Rng(7).permutation(50);  // the definition
  for (std::size_t i = 0; i < 40; ++i) CHECK(train.labels[i] == order[i]);
  for (std::size_t i = 0; i < 10; ++i) CHECK(test.labels[i] == order[40 + i]);
  CHECK(error_of([&] { dpvae::data::split_held_out(many, 0.99, 7); }).find("fewer than 2 images") != std::string::npos);
}
