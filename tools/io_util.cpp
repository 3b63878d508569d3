// tools/io_util.cpp — implementation of tools/io_util.hpp.
#include "io_util.hpp"

#include <dpvae/io/safetensors.hpp>

#include <fstream>
#include <sstream>
#include <vector>

namespace dpvae::cli {

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  dpvae::detail::require(static_cast<bool>(in), "cannot read " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text_atomic(const std::filesystem::path& path, const std::string& text) {
  io::write_file_atomic(path, std::vector<unsigned char>(text.begin(), text.end()));
}

}  // namespace dpvae::cli
