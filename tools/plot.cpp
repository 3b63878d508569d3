// tools/plot.cpp — implementation of tools/plot.hpp (cairo + stb_image_write).
#include "plot.hpp"

#include "dpvae/io/safetensors.hpp"  // dpvae::io::write_file_atomic

#include <cairo.h>
#include <stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <numbers>

namespace dpvae::plot {
namespace {

constexpr Index kGap = 2;          // pixels between (and around) the images of a grid
constexpr Index kMaxSide = 32767;  // largest figure side (cairo's limit, keeps stb's ints safe)
constexpr const char* kFont = "sans-serif";

// ---------------------------------------------------------------- small helpers

std::string quoted(const std::string& s) { return "'" + s + "'"; }

struct SurfaceDeleter {
  void operator()(cairo_surface_t* s) const { cairo_surface_destroy(s); }
};
struct ContextDeleter {
  void operator()(cairo_t* c) const { cairo_destroy(c); }
};
using SurfacePtr = std::unique_ptr<cairo_surface_t, SurfaceDeleter>;
using ContextPtr = std::unique_ptr<cairo_t, ContextDeleter>;

SurfacePtr make_surface(int w, int h, cairo_format_t format, const std::string& what) {
  SurfacePtr s(cairo_image_surface_create(format, w, h));
  const cairo_status_t st = cairo_surface_status(s.get());
  if (st != CAIRO_STATUS_SUCCESS) detail::fail("cannot render " + what + ": " + cairo_status_to_string(st));
  return s;
}

ContextPtr make_context(cairo_surface_t* s, const std::string& what) {
  ContextPtr c(cairo_create(s));
  const cairo_status_t st = cairo_status(c.get());
  if (st != CAIRO_STATUS_SUCCESS) detail::fail("cannot render " + what + ": " + cairo_status_to_string(st));
  return c;
}

cairo_status_t append_bytes(void* closure, const unsigned char* data, unsigned int length) {
  auto* out = static_cast<std::vector<unsigned char>*>(closure);
  out->insert(out->end(), data, data + length);
  return CAIRO_STATUS_SUCCESS;
}

// Checks the drawing succeeded, encodes the surface as PNG and writes it atomically.
void finish_cairo(const std::filesystem::path& png, cairo_t* cr, cairo_surface_t* surface) {
  const std::string where = png.string();
  cairo_status_t st = cairo_status(cr);
  if (st != CAIRO_STATUS_SUCCESS) detail::fail("cannot render " + where + ": " + cairo_status_to_string(st));
  cairo_surface_flush(surface);
  std::vector<unsigned char> bytes;
  st = cairo_surface_write_to_png_stream(surface, append_bytes, &bytes);
  if (st != CAIRO_STATUS_SUCCESS) detail::fail("cannot encode " + where + " as PNG: " + cairo_status_to_string(st));
  io::write_file_atomic(png, bytes);
}

double text_width(cairo_t* cr, const std::string& s) {
  cairo_text_extents_t e;
  cairo_text_extents(cr, s.c_str(), &e);
  return e.x_advance;
}

void set_font(cairo_t* cr, double size, bool bold) {
  cairo_select_font_face(cr, kFont, CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
}

// Draws `s` with its baseline at y, horizontally centred on cx (align 0.5), left-aligned at
// cx (align 0) or right-aligned at cx (align 1).
void draw_text(cairo_t* cr, const std::string& s, double cx, double y, double align) {
  cairo_move_to(cr, cx - align * text_width(cr, s), y);
  cairo_show_text(cr, s.c_str());
}

// ---------------------------------------------------------------- image grids

struct Pixels {
  Index width = 0, height = 0, channels = 0;
  std::vector<unsigned char> data;  // row-major, channels interleaved
};

unsigned char to_byte(float v) {
  if (!(v > 0.0f)) return 0;  // also NaN
  if (v >= 1.0f) return 255;
  return static_cast<unsigned char>(std::lround(static_cast<double>(v) * 255.0));
}

// Validates a grid's arguments; `who` prefixes every message.
void check_grid(const std::string& who, const Matrix<float>& images, Index height, Index width, Index channels,
                Index cols, Index scale) {
  detail::require(height > 0 && width > 0 && height <= kMaxSide && width <= kMaxSide,
                  who + ": image size " + std::to_string(height) + " × " + std::to_string(width) +
                      " must be positive and at most " + std::to_string(kMaxSide));
  detail::require(channels == 1 || channels == 3,
                  who + ": channels is " + std::to_string(channels) + ", must be 1 or 3");
  detail::require(cols >= 1, who + ": cols is " + std::to_string(cols) + ", must be at least 1");
  detail::require(scale >= 1 && scale <= kMaxSide,
                  who + ": scale is " + std::to_string(scale) + ", must be in [1, " + std::to_string(kMaxSide) + "]");
  detail::require(images.rows() >= 1, who + ": no images to draw");
  const Index d = height * width * channels;
  detail::require(images.cols() == d, who + ": images are " + std::to_string(images.rows()) + " × " +
                                          std::to_string(images.cols()) + ", expected n × " + std::to_string(d) +
                                          " (H·W·C = " + std::to_string(height) + "·" + std::to_string(width) + "·" +
                                          std::to_string(channels) + ")");
  const Index ncols = std::min(cols, images.rows());
  const Index nrows = (images.rows() + ncols - 1) / ncols;
  const Index w = kGap + ncols * (width * scale + kGap);
  const Index h = kGap + nrows * (height * scale + kGap);
  detail::require(w <= kMaxSide && h <= kMaxSide, who + ": the grid would be " + std::to_string(w) + " × " +
                                                      std::to_string(h) + " pixels, more than " +
                                                      std::to_string(kMaxSide) + " on a side");
}

Pixels build_grid(const Matrix<float>& images, Index height, Index width, Index channels, Index cols, Index scale) {
  const Index n = images.rows();
  const Index ncols = std::min(cols, n);
  const Index nrows = (n + ncols - 1) / ncols;
  Pixels p;
  p.channels = channels;
  p.width = kGap + ncols * (width * scale + kGap);
  p.height = kGap + nrows * (height * scale + kGap);
  p.data.assign(static_cast<std::size_t>(p.width * p.height * channels), 255);
  for (Index i = 0; i < n; ++i) {
    const Index x0 = kGap + (i % ncols) * (width * scale + kGap);
    const Index y0 = kGap + (i / ncols) * (height * scale + kGap);
    for (Index r = 0; r < height * scale; ++r) {
      const Index sr = r / scale;
      unsigned char* row = p.data.data() + ((y0 + r) * p.width + x0) * channels;
      for (Index c = 0; c < width * scale; ++c) {
        const Index sc = c / scale;
        for (Index k = 0; k < channels; ++k)
          row[c * channels + k] = to_byte(images(i, (sr * width + sc) * channels + k));
      }
    }
  }
  return p;
}

void append_stb(void* context, void* data, int size) {
  auto* out = static_cast<std::vector<unsigned char>*>(context);
  const auto* b = static_cast<const unsigned char*>(data);
  out->insert(out->end(), b, b + size);
}

// ---------------------------------------------------------------- colours, ticks

std::array<double, 3> viridis(double t) {
  // matplotlib's viridis sampled at 0, 0.1, …, 1.
  static constexpr std::array<std::array<double, 3>, 11> kStops{{{68, 1, 84},
                                                                 {72, 36, 117},
                                                                 {65, 68, 135},
                                                                 {53, 95, 141},
                                                                 {42, 120, 142},
                                                                 {33, 145, 140},
                                                                 {34, 168, 132},
                                                                 {68, 191, 112},
                                                                 {122, 209, 81},
                                                                 {189, 223, 38},
                                                                 {253, 231, 37}}};
  if (!(t > 0.0)) t = 0.0;
  if (t > 1.0) t = 1.0;
  const double s = t * 10.0;
  const auto i = std::min<std::size_t>(static_cast<std::size_t>(s), 9);
  const double f = s - static_cast<double>(i);
  std::array<double, 3> c{};
  for (std::size_t k = 0; k < 3; ++k) c[k] = ((1.0 - f) * kStops[i][k] + f * kStops[i + 1][k]) / 255.0;
  return c;
}

struct Ticks {
  std::vector<double> values;
  std::vector<std::string> labels;
};

Ticks nice_ticks(double lo, double hi, int target) {
  Ticks t;
  const double span = hi - lo;
  const double raw = span / std::max(target, 1);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double f = raw / mag;
  const double nice = f < 1.5 ? 1.0 : f < 3.0 ? 2.0 : f < 7.0 ? 5.0 : 10.0;
  const double step = nice * mag;
  if (!std::isfinite(step) || step <= 0.0) return t;
  const double k0 = std::ceil(lo / step - 1e-9);
  const double k1 = std::floor(hi / step + 1e-9);
  if (!(k1 - k0 < 50.0)) return t;
  const int decimals = std::max(0, static_cast<int>(-std::floor(std::log10(step) + 1e-9)));
  for (double k = k0; k <= k1; k += 1.0) {
    const double v = k * step;
    char buf[64];
    const double av = std::abs(v);
    if (k == 0.0)
      std::snprintf(buf, sizeof buf, "0");
    else if (av >= 1e6 || decimals > 6)
      std::snprintf(buf, sizeof buf, "%.3g", v);
    else
      std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
    t.values.push_back(v);
    t.labels.emplace_back(buf);
  }
  return t;
}

// ---------------------------------------------------------------- scatter panels

struct Box {
  double x0, x1, y0, y1;
};

bool finite_range(const std::array<double, 4>& r) {
  return std::isfinite(r[0]) && std::isfinite(r[1]) && std::isfinite(r[2]) && std::isfinite(r[3]) && r[0] < r[1] &&
         r[2] < r[3];
}

void check_panel(const Panel& p, const std::string& who) {
  for (std::size_t l = 0; l < p.layers.size(); ++l) {
    const Points& pts = p.layers[l];
    const std::string lw = who + " layer " + std::to_string(l) + (pts.label.empty() ? "" : " (" + quoted(pts.label) + ")");
    detail::require(pts.xy.rows() == 0 || pts.xy.cols() == 2, lw + ": xy is " + std::to_string(pts.xy.rows()) + " × " +
                                                                  std::to_string(pts.xy.cols()) + ", expected n × 2");
    for (double c : pts.rgb)
      detail::require(c >= 0.0 && c <= 1.0, lw + ": rgb components must be in [0, 1]");
    detail::require(pts.alpha >= 0.0 && pts.alpha <= 1.0, lw + ": alpha must be in [0, 1]");
    detail::require(pts.radius > 0.0 && pts.radius <= 1000.0, lw + ": radius must be in (0, 1000] pixels");
  }
  if (p.heatmap) {
    const Heatmap& h = *p.heatmap;
    detail::require(h.values.rows() >= 1 && h.values.cols() >= 1, who + ": heatmap has no bins");
    detail::require(h.values.rows() <= kMaxSide && h.values.cols() <= kMaxSide,
                    who + ": heatmap has more than " + std::to_string(kMaxSide) + " bins on a side");
    detail::require(finite_range({h.x_min, h.x_max, h.y_min, h.y_max}),
                    who + ": heatmap extent must be finite with x_min < x_max and y_min < y_max");
  }
  if (p.range) detail::require(finite_range(*p.range), who + ": range must be finite with xmin < xmax and ymin < ymax");
}

Box resolve_range(const Panel& p) {
  if (p.range) return {(*p.range)[0], (*p.range)[1], (*p.range)[2], (*p.range)[3]};
  if (p.heatmap) return {p.heatmap->x_min, p.heatmap->x_max, p.heatmap->y_min, p.heatmap->y_max};
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  for (const Points& pts : p.layers)
    for (Index i = 0; i < pts.xy.rows(); ++i) {
      const double x = pts.xy(i, 0), y = pts.xy(i, 1);
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
    }
  if (!(x0 <= x1)) return {-1.0, 1.0, -1.0, 1.0};
  auto widen = [](double& lo, double& hi) {
    if (!(hi - lo > 0.0)) {
      const double half = std::max(0.5, 0.05 * std::abs(lo));
      lo -= half, hi += half;
    }
    const double m = 0.05 * (hi - lo);
    lo -= m, hi += m;
  };
  widen(x0, x1);
  widen(y0, y1);
  return {x0, x1, y0, y1};
}

// Layout of one panel cell (pixels).
constexpr double kLeft = 58, kRight = 16, kTop = 30, kBottom = 36;

void draw_heatmap(cairo_t* cr, const Heatmap& h, const Box& b, double left, double top, double size,
                  const std::string& who) {
  const Index rows = h.values.rows(), cols = h.values.cols();
  Matrix<double> t(rows, cols);
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (Index r = 0; r < rows; ++r)
    for (Index c = 0; c < cols; ++c) {
      double v = h.values(r, c);
      if (h.log_scale) v = v > 0.0 ? std::log(v) : std::numeric_limits<double>::quiet_NaN();
      t(r, c) = v;
      if (std::isfinite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    }
  SurfacePtr img = make_surface(static_cast<int>(cols), static_cast<int>(rows), CAIRO_FORMAT_RGB24, who + " heatmap");
  cairo_surface_flush(img.get());
  unsigned char* data = cairo_image_surface_get_data(img.get());
  const int stride = cairo_image_surface_get_stride(img.get());
  for (Index r = 0; r < rows; ++r) {
    auto* row = reinterpret_cast<std::uint32_t*>(data + r * stride);
    for (Index c = 0; c < cols; ++c) {
      const double v = t(r, c);
      const double u = std::isfinite(v) && hi > lo ? (v - lo) / (hi - lo) : 0.0;
      const auto rgb = viridis(u);
      auto byte = [](double x) { return static_cast<std::uint32_t>(std::lround(x * 255.0)); };
      row[c] = 0xFF000000u | (byte(rgb[0]) << 16) | (byte(rgb[1]) << 8) | byte(rgb[2]);
    }
  }
  cairo_surface_mark_dirty(img.get());

  const double sx = size / (b.x1 - b.x0), sy = size / (b.y1 - b.y0);
  const double X0 = left + (h.x_min - b.x0) * sx, X1 = left + (h.x_max - b.x0) * sx;
  const double Y0 = top + (b.y1 - h.y_max) * sy, Y1 = top + (b.y1 - h.y_min) * sy;
  cairo_save(cr);
  cairo_rectangle(cr, left, top, size, size);
  cairo_clip(cr);
  cairo_rectangle(cr, X0, Y0, X1 - X0, Y1 - Y0);
  cairo_clip(cr);
  cairo_translate(cr, X0, Y0);
  cairo_scale(cr, (X1 - X0) / static_cast<double>(cols), (Y1 - Y0) / static_cast<double>(rows));
  cairo_set_source_surface(cr, img.get(), 0, 0);
  cairo_pattern_set_filter(cairo_get_source(cr), CAIRO_FILTER_GOOD);
  cairo_pattern_set_extend(cairo_get_source(cr), CAIRO_EXTEND_PAD);
  cairo_paint(cr);
  cairo_restore(cr);
}

void draw_panel(cairo_t* cr, const Panel& p, double cell_x, double cell_y, double size, const std::string& who) {
  const Box b = resolve_range(p);
  const double left = cell_x + kLeft, top = cell_y + kTop;
  const double sx = size / (b.x1 - b.x0), sy = size / (b.y1 - b.y0);
  const int target = std::max(3, static_cast<int>(size / 75.0));
  const Ticks xt = nice_ticks(b.x0, b.x1, target), yt = nice_ticks(b.y0, b.y1, target);
  auto px = [&](double x) { return left + (x - b.x0) * sx; };
  auto py = [&](double y) { return top + (b.y1 - y) * sy; };
  auto snap = [](double v) { return std::floor(v) + 0.5; };

  cairo_set_line_width(cr, 1.0);
  if (p.heatmap) {
    draw_heatmap(cr, *p.heatmap, b, left, top, size, who);
  } else {  // light grid lines
    cairo_set_source_rgb(cr, 0.91, 0.91, 0.91);
    for (double v : xt.values) {
      cairo_move_to(cr, snap(px(v)), top);
      cairo_line_to(cr, snap(px(v)), top + size);
    }
    for (double v : yt.values) {
      cairo_move_to(cr, left, snap(py(v)));
      cairo_line_to(cr, left + size, snap(py(v)));
    }
    cairo_stroke(cr);
  }

  // Points, clipped to the plotting square.
  cairo_save(cr);
  cairo_rectangle(cr, left, top, size, size);
  cairo_clip(cr);
  for (const Points& pts : p.layers) {
    cairo_set_source_rgba(cr, pts.rgb[0], pts.rgb[1], pts.rgb[2], pts.alpha);
    const double r = pts.radius;
    if (pts.connect) {  // a polyline through consecutive finite points
      cairo_set_line_width(cr, std::max(1.0, 0.8 * r));
      bool open = false;
      for (Index i = 0; i < pts.xy.rows(); ++i) {
        const double x = pts.xy(i, 0), y = pts.xy(i, 1);
        if (!std::isfinite(x) || !std::isfinite(y)) {
          open = false;
          continue;
        }
        if (open) cairo_line_to(cr, px(x), py(y));
        else cairo_move_to(cr, px(x), py(y));
        open = true;
      }
      cairo_stroke(cr);
    }
    for (Index i = 0; i < pts.xy.rows(); ++i) {
      const double x = pts.xy(i, 0), y = pts.xy(i, 1);
      if (!std::isfinite(x) || !std::isfinite(y)) continue;
      const double cx = px(x), cy = py(y);
      if (cx < left - r || cx > left + size + r || cy < top - r || cy > top + size + r) continue;
      cairo_new_path(cr);
      cairo_arc(cr, cx, cy, r, 0.0, 2.0 * std::numbers::pi);
      cairo_fill(cr);
    }
  }
  cairo_restore(cr);

  // Frame and ticks.
  cairo_set_source_rgb(cr, 0.2, 0.2, 0.2);
  cairo_rectangle(cr, left - 0.5, top - 0.5, size + 1.0, size + 1.0);
  for (double v : xt.values) {
    cairo_move_to(cr, snap(px(v)), top + size + 0.5);
    cairo_line_to(cr, snap(px(v)), top + size + 4.5);
  }
  for (double v : yt.values) {
    cairo_move_to(cr, left - 0.5, snap(py(v)));
    cairo_line_to(cr, left - 4.5, snap(py(v)));
  }
  cairo_stroke(cr);

  set_font(cr, 11.0, false);
  cairo_font_extents_t fe;
  cairo_font_extents(cr, &fe);
  for (std::size_t i = 0; i < xt.values.size(); ++i)
    draw_text(cr, xt.labels[i], px(xt.values[i]), top + size + 6.0 + fe.ascent, 0.5);
  for (std::size_t i = 0; i < yt.values.size(); ++i)
    draw_text(cr, yt.labels[i], left - 7.0, py(yt.values[i]) + 0.35 * fe.ascent, 1.0);

  // Title.
  if (!p.title.empty()) {
    cairo_set_source_rgb(cr, 0.0, 0.0, 0.0);
    set_font(cr, 13.0, true);
    draw_text(cr, p.title, left + size / 2.0, top - 10.0, 0.5);
  }

  // Legend (top-right, inside the square).
  std::vector<const Points*> entries;
  for (const Points& pts : p.layers)
    if (!pts.label.empty()) entries.push_back(&pts);
  if (!entries.empty()) {
    set_font(cr, 11.0, false);
    double tw = 0.0;
    for (const Points* e : entries) tw = std::max(tw, text_width(cr, e->label));
    const double pad = 6.0, row_h = 16.0, marker = 14.0;
    const double w = pad + marker + 4.0 + tw + pad, h = pad + row_h * static_cast<double>(entries.size()) + pad - 4.0;
    const double bx = std::floor(left + size - 6.0 - w) + 0.5, by = std::floor(top + 6.0) + 0.5;
    cairo_rectangle(cr, bx, by, w, h);
    cairo_set_source_rgba(cr, 1.0, 1.0, 1.0, 0.85);
    cairo_fill_preserve(cr);
    cairo_set_source_rgb(cr, 0.7, 0.7, 0.7);
    cairo_stroke(cr);
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const Points& e = *entries[i];
      const double cy = by + pad + row_h * static_cast<double>(i) + 6.0;
      cairo_set_source_rgba(cr, e.rgb[0], e.rgb[1], e.rgb[2], std::max(e.alpha, 0.85));
      cairo_new_path(cr);
      cairo_arc(cr, bx + pad + marker / 2.0, cy, std::clamp(e.radius, 3.0, 5.0), 0.0, 2.0 * std::numbers::pi);
      cairo_fill_preserve(cr);
      cairo_set_source_rgb(cr, 0.45, 0.45, 0.45);  // outline: keeps light markers visible
      cairo_set_line_width(cr, 0.75);
      cairo_stroke(cr);
      cairo_set_line_width(cr, 1.0);
      cairo_set_source_rgb(cr, 0.1, 0.1, 0.1);
      draw_text(cr, e.label, bx + pad + marker + 4.0, cy + 0.35 * fe.ascent, 0.0);
    }
  }
}

}  // namespace

// ---------------------------------------------------------------- public API

void write_image_grid(const std::filesystem::path& png, const Matrix<float>& images, Index height, Index width,
                      Index channels, Index cols, Index scale) {
  check_grid("write_image_grid " + png.string(), images, height, width, channels, cols, scale);
  const Pixels p = build_grid(images, height, width, channels, cols, scale);
  std::vector<unsigned char> bytes;
  const int ok = stbi_write_png_to_func(append_stb, &bytes, static_cast<int>(p.width), static_cast<int>(p.height),
                                        static_cast<int>(p.channels), p.data.data(),
                                        static_cast<int>(p.width * p.channels));
  detail::require(ok != 0 && !bytes.empty(), "cannot encode " + png.string() + " as PNG");
  io::write_file_atomic(png, bytes);
}

void write_grid_comparison(const std::filesystem::path& png, const std::vector<GridPanel>& panels, Index height,
                           Index width, Index channels, Index cols, Index scale) {
  const std::string where = png.string();
  detail::require(!panels.empty(), "write_grid_comparison " + where + ": no panels to draw");
  std::vector<Pixels> grids;
  for (std::size_t i = 0; i < panels.size(); ++i) {
    check_grid("write_grid_comparison " + where + ": panel " + std::to_string(i) + " (" + quoted(panels[i].title) + ")",
               panels[i].images, height, width, channels, cols, scale);
    grids.push_back(build_grid(panels[i].images, height, width, channels, cols, scale));
  }

  constexpr double kMargin = 12, kBetween = 18, kTitleBand = 30, kTitleSize = 16;
  // Measure the titles on a scratch surface.
  std::vector<double> col_w(panels.size());
  {
    SurfacePtr scratch = make_surface(1, 1, CAIRO_FORMAT_RGB24, where);
    ContextPtr cr = make_context(scratch.get(), where);
    set_font(cr.get(), kTitleSize, true);
    for (std::size_t i = 0; i < panels.size(); ++i)
      col_w[i] = std::max(static_cast<double>(grids[i].width), std::ceil(text_width(cr.get(), panels[i].title)) + 4.0);
  }
  double total_w = 2 * kMargin + kBetween * static_cast<double>(panels.size() - 1);
  Index grid_h = 0;
  for (std::size_t i = 0; i < panels.size(); ++i) total_w += col_w[i], grid_h = std::max(grid_h, grids[i].height);
  const double total_h = 2 * kMargin + kTitleBand + static_cast<double>(grid_h);
  detail::require(total_w <= static_cast<double>(kMaxSide) && total_h <= static_cast<double>(kMaxSide),
                  "write_grid_comparison " + where + ": the figure would be more than " + std::to_string(kMaxSide) +
                      " pixels on a side");

  SurfacePtr surface = make_surface(static_cast<int>(total_w), static_cast<int>(total_h), CAIRO_FORMAT_RGB24, where);
  ContextPtr cr = make_context(surface.get(), where);
  cairo_set_source_rgb(cr.get(), 1, 1, 1);
  cairo_paint(cr.get());
  double x = kMargin;
  for (std::size_t i = 0; i < panels.size(); ++i) {
    const Pixels& g = grids[i];
    const double gx = std::floor(x + (col_w[i] - static_cast<double>(g.width)) / 2.0);
    const double gy = kMargin + kTitleBand;
    cairo_set_source_rgb(cr.get(), 0, 0, 0);
    set_font(cr.get(), kTitleSize, true);
    draw_text(cr.get(), panels[i].title, x + col_w[i] / 2.0, kMargin + kTitleSize, 0.5);

    SurfacePtr img = make_surface(static_cast<int>(g.width), static_cast<int>(g.height), CAIRO_FORMAT_RGB24, where);
    cairo_surface_flush(img.get());
    unsigned char* data = cairo_image_surface_get_data(img.get());
    const int stride = cairo_image_surface_get_stride(img.get());
    for (Index r = 0; r < g.height; ++r) {
      auto* row = reinterpret_cast<std::uint32_t*>(data + r * stride);
      const unsigned char* src = g.data.data() + r * g.width * g.channels;
      for (Index c = 0; c < g.width; ++c) {
        const unsigned char* s = src + c * g.channels;
        const std::uint32_t R = s[0], G = g.channels == 3 ? s[1] : s[0], B = g.channels == 3 ? s[2] : s[0];
        row[c] = 0xFF000000u | (R << 16) | (G << 8) | B;
      }
    }
    cairo_surface_mark_dirty(img.get());
    cairo_set_source_surface(cr.get(), img.get(), gx, gy);
    cairo_pattern_set_filter(cairo_get_source(cr.get()), CAIRO_FILTER_NEAREST);
    cairo_paint(cr.get());
    x += col_w[i] + kBetween;
  }
  finish_cairo(png, cr.get(), surface.get());
}

void write_panels(const std::filesystem::path& png, const std::vector<std::vector<Panel>>& rows,
                  const std::string& title, int panel_px) {
  const std::string where = png.string();
  const std::string who = "write_panels " + where;
  detail::require(panel_px >= 64 && panel_px <= 4096,
                  who + ": panel_px is " + std::to_string(panel_px) + ", must be in [64, 4096]");
  std::size_t max_cols = 0;
  for (std::size_t r = 0; r < rows.size(); ++r) {
    max_cols = std::max(max_cols, rows[r].size());
    for (std::size_t c = 0; c < rows[r].size(); ++c)
      check_panel(rows[r][c], who + ": row " + std::to_string(r) + ", panel " + std::to_string(c) + " (" +
                                  quoted(rows[r][c].title) + ")");
  }
  detail::require(max_cols > 0, who + ": no panels to draw");

  constexpr double kOuter = 8, kTitleBand = 34;
  const double size = panel_px;
  const double cell_w = kLeft + size + kRight, cell_h = kTop + size + kBottom;
  const double band = title.empty() ? 0.0 : kTitleBand;
  const double total_w = 2 * kOuter + cell_w * static_cast<double>(max_cols);
  const double total_h = 2 * kOuter + band + cell_h * static_cast<double>(rows.size());
  detail::require(total_w <= static_cast<double>(kMaxSide) && total_h <= static_cast<double>(kMaxSide),
                  who + ": the figure would be more than " + std::to_string(kMaxSide) + " pixels on a side");

  SurfacePtr surface = make_surface(static_cast<int>(total_w), static_cast<int>(total_h), CAIRO_FORMAT_RGB24, where);
  ContextPtr cr = make_context(surface.get(), where);
  cairo_set_source_rgb(cr.get(), 1, 1, 1);
  cairo_paint(cr.get());
  if (!title.empty()) {
    cairo_set_source_rgb(cr.get(), 0, 0, 0);
    set_font(cr.get(), 17.0, true);
    draw_text(cr.get(), title, total_w / 2.0, kOuter + 22.0, 0.5);
  }
  for (std::size_t r = 0; r < rows.size(); ++r)
    for (std::size_t c = 0; c < rows[r].size(); ++c)
      draw_panel(cr.get(), rows[r][c], kOuter + cell_w * static_cast<double>(c),
                 kOuter + band + cell_h * static_cast<double>(r), size,
                 who + ": row " + std::to_string(r) + ", panel " + std::to_string(c));
  finish_cairo(png, cr.get(), surface.get());
}

}  // namespace dpvae::plot
