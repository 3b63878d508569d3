// tools/plot.hpp — PNG figures for the dpvae command-line program: image grids, side-by-side
// grid comparisons (cairo titles) and rows of 2-D scatter panels with density heatmaps.
//
// This is tool code, not part of the header-only core: nothing under include/dpvae/ may
// include it. Every function renders the whole figure in memory and then writes it
// atomically (path.tmp… then rename), so a failed run never leaves a half-written PNG.
// Every error is a dpvae::Error with a one-line message; an unwritable path reads
// "cannot write <path>: <reason>".
#pragma once

#include "dpvae/core.hpp"

#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace dpvae::plot {

/// Writes a grid of images as a PNG (via stb_image_write).
/// `images` is n × (height·width·channels), one image per row, channels last, values in
/// [0, 1] (clamped; NaN is drawn as 0); channels is 1 (grey PNG) or 3 (RGB PNG). Images are
/// laid out `cols` per row (fewer if n < cols), row-major, each upscaled `scale`× by
/// nearest-neighbour, with a 2-pixel white gap between images and around the border:
/// image i's top-left pixel is at x = 2 + (i % cols)·(width·scale + 2),
/// y = 2 + (i / cols)·(height·scale + 2).
/// Throws dpvae::Error on an empty batch, a shape mismatch, non-positive sizes, an image
/// wider or taller than 32767 pixels, or "cannot write <png>: <reason>".
void write_image_grid(const std::filesystem::path& png, const Matrix<float>& images, Index height, Index width,
                      Index channels, Index cols, Index scale = 2);

/// One panel of write_grid_comparison: a title and an n × (H·W·C) batch of images.
struct GridPanel {
  std::string title;
  Matrix<float> images;
};

/// Writes side-by-side image grids, each with its title (UTF-8, e.g. "β-VAE-H") centred
/// above it, on a white background (PNG via cairo). Each panel's grid is laid out exactly as
/// write_image_grid lays it out; all panels share height, width and channels but may hold
/// different numbers of images. Throws dpvae::Error when `panels` is empty, on any panel's
/// shape error (naming the panel), or "cannot write <png>: <reason>".
void write_grid_comparison(const std::filesystem::path& png, const std::vector<GridPanel>& panels, Index height,
                           Index width, Index channels, Index cols, Index scale = 2);

/// One layer of points in a scatter panel, drawn as filled circles.
struct Points {
  Matrix<double> xy;                 ///< n × 2 (x, y); rows with a non-finite coordinate are skipped
  std::array<double, 3> rgb{0, 0, 0};  ///< fill colour, each channel in [0, 1]
  double alpha = 0.6;                ///< opacity in [0, 1]
  double radius = 1.5;               ///< circle radius in pixels, > 0
  std::string label;                 ///< legend entry; empty = not in the legend
  bool connect = false;              ///< also join consecutive points with a line (a curve)
};

/// A background density image drawn under the points with a viridis colour map.
struct Heatmap {
  Matrix<double> values;  ///< rows = y bins (top row = max y), cols = x bins; non-finite = lowest colour
  double x_min = 0, x_max = 1, y_min = 0, y_max = 1;  ///< extent of the whole image in data units
  bool log_scale = false;  ///< colour by log(value); values ≤ 0 get the lowest colour
};

/// One square scatter panel.
struct Panel {
  std::string title;
  std::vector<Points> layers;      ///< drawn in order (later layers on top)
  std::optional<Heatmap> heatmap;  ///< drawn under the points
  /// xmin, xmax, ymin, ymax. When unset: the heatmap's extent if there is a heatmap, else the
  /// points' bounding box widened by 5% on each side.
  std::optional<std::array<double, 4>> range;
};

/// Writes a figure made of rows of square scatter panels (PNG via cairo): each panel has a
/// frame, a few round tick values on both axes, its title above, light grid lines (when it
/// has no heatmap), the heatmap if any, the point layers, and a legend (top-right) for the
/// layers with a non-empty label. `title`, when not empty, is drawn centred above all rows.
/// `panel_px` is the side of each panel's plotting square in pixels (64 … 4096); rows may
/// hold different numbers of panels (the figure is as wide as the widest row).
/// Throws dpvae::Error when there are no panels, on an xy that is not n × 2, a colour, alpha
/// or radius out of range, an empty heatmap or a heatmap/range with a non-finite or empty
/// extent (naming the row and panel), or "cannot write <png>: <reason>".
void write_panels(const std::filesystem::path& png, const std::vector<std::vector<Panel>>& rows,
                  const std::string& title = "", int panel_px = 360);

}  // namespace dpvae::plot
