// tools/io_util.hpp — whole text files: read one, or replace one atomically (a temporary file
// beside it, fsync, rename: dpvae::io::write_file_atomic), so that a kill never leaves a
// half-written config.json, metrics.csv, metrics JSON or table.
#pragma once

#include <filesystem>
#include <string>

namespace dpvae::cli {

/// The bytes of `path`. Throws dpvae::Error "cannot read <path>" when it cannot be opened.
std::string read_text(const std::filesystem::path& path);

/// Replaces `path` with `text` atomically. Throws dpvae::Error "cannot write <path>: <why>".
void write_text_atomic(const std::filesystem::path& path, const std::string& text);

}  // namespace dpvae::cli
