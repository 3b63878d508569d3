// Tests for tools/plot.hpp: every figure kind is written, read back with stb_image and checked
// for size and content; unwritable paths and bad shapes throw dpvae::Error.
#include <doctest/doctest.h>

#include "plot.hpp"

#include <stb_image.h>

#include <cmath>
#include <cstdlib>
#include <algorithm>
#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <numbers>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <unistd.h>

namespace fs = std::filesystem;
using dpvae::Index;
using dpvae::Matrix;

namespace {

struct TempDir {
  fs::path path;
  TempDir() : path(fs::temp_directory_path() / ("dpvae_test_plot_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

struct Image {
  int w = 0, h = 0, c = 0;
  std::vector<unsigned char> px;
  unsigned char at(int x, int y, int k) const {
    return px[static_cast<std::size_t>((y * w + x) * c + k)];
  }
  std::size_t distinct_colours() const {
    std::set<std::uint32_t> s;
    for (int i = 0; i < w * h; ++i) {
      std::uint32_t v = 0;
      for (int k = 0; k < c; ++k) v = (v << 8) | px[static_cast<std::size_t>(i * c + k)];
      s.insert(v);
    }
    return s.size();
  }
};

Image load(const fs::path& p) {
  Image img;
  unsigned char* data = stbi_load(p.string().c_str(), &img.w, &img.h, &img.c, 0);
  REQUIRE_MESSAGE(data != nullptr, "stb_image could not read " << p.string());
  img.px.assign(data, data + static_cast<std::size_t>(img.w) * static_cast<std::size_t>(img.h) *
                                 static_cast<std::size_t>(img.c));
  stbi_image_free(data);
  return img;
}

// Deterministic values in [0, 1] covering the whole range.
Matrix<float> test_images(Index n, Index d) {
  Matrix<float> m(n, d);
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < d; ++j)
      m(i, j) = static_cast<float>(((i * 37 + j * 11) % 101) / 100.0);
  return m;
}

// Checks every pixel of every image against the layout documented in plot.hpp.
void check_grid_pixels(const Image& img, const Matrix<float>& images, Index H, Index W, Index C, Index cols,
                       Index scale) {
  const Index ncols = std::min(cols, images.rows());
  int bad = 0;
  for (Index i = 0; i < images.rows(); ++i) {
    const Index x0 = 2 + (i % ncols) * (W * scale + 2), y0 = 2 + (i / ncols) * (H * scale + 2);
    for (Index r = 0; r < H; ++r)
      for (Index c = 0; c < W; ++c)
        for (Index k = 0; k < C; ++k) {
          const int expected = static_cast<int>(std::lround(images(i, (r * W + c) * C + k) * 255.0));
          // Check both corners of the upscaled block.
          for (Index dy : {Index{0}, scale - 1})
            for (Index dx : {Index{0}, scale - 1}) {
              const int got = img.at(static_cast<int>(x0 + c * scale + dx), static_cast<int>(y0 + r * scale + dy),
                                     static_cast<int>(k));
              if (std::abs(got - expected) > 1) ++bad;
            }
        }
  }
  CHECK(bad == 0);
}

void check_cannot_write(const std::function<void(const fs::path&)>& write) {
  const fs::path p = fs::temp_directory_path() / "dpvae_no_such_dir_for_plot_test" / "x.png";
  bool threw = false;
  try {
    write(p);
  } catch (const dpvae::Error& e) {
    threw = true;
    const std::string msg = e.what();
    CHECK_MESSAGE(msg.find("cannot write") != std::string::npos, msg);
    CHECK_MESSAGE(msg.find(p.string()) != std::string::npos, msg);
  }
  CHECK(threw);
}

std::vector<dpvae::plot::Panel> scatter_row(bool heatmap, double shift) {
  using namespace dpvae::plot;
  const Index n = 400;
  Points data, samples;
  data.xy.resize(n, 2);
  samples.xy.resize(n, 2);
  for (Index i = 0; i < n; ++i) {
    const double t = 2.0 * std::numbers::pi * static_cast<double>(i) / static_cast<double>(n);
    data.xy(i, 0) = std::cos(t) * 2.0 + shift;
    data.xy(i, 1) = std::sin(t) * 2.0;
    samples.xy(i, 0) = std::cos(3 * t) * (1.0 + 0.3 * std::sin(7 * t)) + shift;
    samples.xy(i, 1) = std::sin(3 * t) * (1.0 + 0.3 * std::cos(5 * t));
  }
  data.rgb = {0.6, 0.6, 0.6};
  data.label = "data";
  samples.rgb = {0.85, 0.2, 0.1};
  samples.label = "generated";
  Panel a{"data + samples", {data, samples}, std::nullopt, std::nullopt};
  Panel b{"aggregate posterior", {samples}, std::nullopt, std::nullopt};
  b.layers[0].label.clear();
  if (heatmap) {
    Heatmap h;
    h.values.resize(40, 50);
    for (Index r = 0; r < 40; ++r)
      for (Index c = 0; c < 50; ++c) {
        const double x = -3.0 + 6.0 * (c + 0.5) / 50.0, y = 3.0 - 6.0 * (r + 0.5) / 40.0;
        h.values(r, c) = std::exp(-0.5 * (x * x + y * y));
      }
    h.x_min = -3.0, h.x_max = 3.0, h.y_min = -3.0, h.y_max = 3.0;
    h.log_scale = shift > 0;
    b.heatmap = h;
  } else {
    b.range = std::array<double, 4>{-2.0, 2.0, -1.5, 1.5};
  }
  return {a, b};
}

}  // namespace

TEST_CASE("write_image_grid: grey and RGB grids are laid out pixel-exactly") {
  TempDir dir;
  SUBCASE("grey") {
    const Index H = 4, W = 5, C = 1, cols = 2, scale = 3;
    const Matrix<float> images = test_images(3, H * W * C);
    const fs::path p = dir.path / "grey.png";
    dpvae::plot::write_image_grid(p, images, H, W, C, cols, scale);
    const Image img = load(p);
    CHECK(img.w == 2 + 2 * (W * scale + 2));
    CHECK(img.h == 2 + 2 * (H * scale + 2));
    CHECK(img.c == 1);
    CHECK(img.distinct_colours() > 1);
    check_grid_pixels(img, images, H, W, C, cols, scale);
  }
  SUBCASE("rgb, fewer images than cols, default scale") {
    const Index H = 3, W = 2, C = 3, cols = 8;
    Matrix<float> images = test_images(3, H * W * C);
    images(0, 0) = -0.5f;  // clamped to 0
    images(0, 1) = 1.5f;   // clamped to 1
    const fs::path p = dir.path / "rgb.png";
    dpvae::plot::write_image_grid(p, images, H, W, C, cols);
    const Image img = load(p);
    CHECK(img.w == 2 + 3 * (W * 2 + 2));
    CHECK(img.h == 2 + 1 * (H * 2 + 2));
    CHECK(img.c == 3);
    CHECK(img.distinct_colours() > 1);
    CHECK(img.at(2, 2, 0) == 0);
    CHECK(img.at(2, 2, 1) == 255);
    images(0, 0) = 0.0f;
    images(0, 1) = 1.0f;
    check_grid_pixels(img, images, H, W, C, cols, 2);
  }
  SUBCASE("errors") {
    const Matrix<float> images = test_images(2, 12);
    check_cannot_write([&](const fs::path& p) { dpvae::plot::write_image_grid(p, images, 2, 2, 3, 4); });
    CHECK_THROWS_AS(dpvae::plot::write_image_grid(dir.path / "bad.png", images, 3, 3, 1, 4), dpvae::Error);
    CHECK_THROWS_AS(dpvae::plot::write_image_grid(dir.path / "bad.png", images, 2, 3, 2, 4), dpvae::Error);
    CHECK_THROWS_AS(dpvae::plot::write_image_grid(dir.path / "bad.png", Matrix<float>(0, 12), 2, 2, 3, 4),
                    dpvae::Error);
    CHECK_FALSE(fs::exists(dir.path / "bad.png"));
  }
}

TEST_CASE("write_grid_comparison: titled panels side by side") {
  TempDir dir;
  const Index H = 6, W = 6, C = 3, cols = 3, scale = 2;
  std::vector<dpvae::plot::GridPanel> panels{{"β-VAE-H", test_images(6, H * W * C)},
                                             {"β-dpVAE-H", test_images(5, H * W * C).array() * 0.5f}};
  const fs::path p = dir.path / "comparison.png";
  dpvae::plot::write_grid_comparison(p, panels, H, W, C, cols, scale);
  const Image img = load(p);
  const int grid_w = static_cast<int>(2 + cols * (W * scale + 2)), grid_h = static_cast<int>(2 + 2 * (H * scale + 2));
  CHECK(img.w >= 2 * grid_w);
  CHECK(img.h == 2 * 12 + 30 + grid_h);
  CHECK(img.distinct_colours() > 10);
  // The title band holds dark (text) pixels.
  int dark = 0;
  for (int y = 0; y < 12 + 30; ++y)
    for (int x = 0; x < img.w; ++x)
      if (img.at(x, y, 0) < 100) ++dark;
  CHECK(dark > 20);

  check_cannot_write([&](const fs::path& q) { dpvae::plot::write_grid_comparison(q, panels, H, W, C, cols, scale); });
  CHECK_THROWS_AS(dpvae::plot::write_grid_comparison(dir.path / "bad.png", {}, H, W, C, cols), dpvae::Error);
  panels[1].images = test_images(2, 5);
  CHECK_THROWS_AS(dpvae::plot::write_grid_comparison(dir.path / "bad.png", panels, H, W, C, cols), dpvae::Error);
}

TEST_CASE("write_panels: rows of scatter panels with heatmaps and legends") {
  TempDir dir;
  const int P = 200;
  const std::vector<std::vector<dpvae::plot::Panel>> rows{scatter_row(true, 0.0), scatter_row(true, 1.0),
                                                          scatter_row(false, 0.0)};
  const fs::path p = dir.path / "panels.png";
  dpvae::plot::write_panels(p, rows, "Figure 1", P);
  const Image img = load(p);
  CHECK(img.w == 2 * 8 + 2 * (58 + P + 16));
  CHECK(img.h == 2 * 8 + 34 + 3 * (30 + P + 36));
  CHECK(img.distinct_colours() > 50);
  // Centre of the heatmap panel of row 0 is (near) the top of viridis: yellow-green, not white.
  const int cx = 8 + (58 + P + 16) + 58 + P / 2, cy = 8 + 34 + 30 + P / 2;
  CHECK(img.at(cx, cy, 1) > 150);
  CHECK(img.at(cx, cy, 2) < 150);
  // Its corner is the bottom of viridis: dark purple.
  const int kx = 8 + (58 + P + 16) + 58 + 2, ky = 8 + 34 + 30 + 2;
  CHECK(img.at(kx, ky, 0) < 100);
  CHECK(img.at(kx, ky, 1) < 60);
  CHECK(img.at(kx, ky, 2) > 60);

  SUBCASE("no title, auto range from points, empty and degenerate layers") {
    dpvae::plot::Points one;
    one.xy = Matrix<double>::Constant(3, 2, 5.0);
    dpvae::plot::Points none;
    const std::vector<std::vector<dpvae::plot::Panel>> r2{{{"one point", {one, none}, std::nullopt, std::nullopt}},
                                                          {}};
    const fs::path q = dir.path / "single.png";
    dpvae::plot::write_panels(q, r2);
    const Image i2 = load(q);
    CHECK(i2.w == 2 * 8 + (58 + 360 + 16));
    CHECK(i2.h == 2 * 8 + 2 * (30 + 360 + 36));
    CHECK(i2.distinct_colours() > 1);
  }
  SUBCASE("errors") {
    check_cannot_write([&](const fs::path& q) { dpvae::plot::write_panels(q, rows, "x", P); });
    CHECK_THROWS_AS(dpvae::plot::write_panels(dir.path / "bad.png", {}, "", P), dpvae::Error);
    auto bad = rows;
    bad[0][0].layers[0].xy = Matrix<double>(4, 3);
    CHECK_THROWS_WITH_AS(dpvae::plot::write_panels(dir.path / "bad.png", bad, "", P),
                         doctest::Contains("expected n × 2"), dpvae::Error);
    bad = rows;
    bad[1][1].range = std::array<double, 4>{1.0, 1.0, 0.0, 1.0};
    CHECK_THROWS_AS(dpvae::plot::write_panels(dir.path / "bad.png", bad, "", P), dpvae::Error);
    bad = rows;
    bad[0][0].layers[1].alpha = 2.0;
    CHECK_THROWS_AS(dpvae::plot::write_panels(dir.path / "bad.png", bad, "", P), dpvae::Error);
    CHECK_THROWS_AS(dpvae::plot::write_panels(dir.path / "bad.png", rows, "", 10), dpvae::Error);
    CHECK_FALSE(fs::exists(dir.path / "bad.png"));
  }
}
