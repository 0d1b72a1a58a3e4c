// Fixed-width text columns for the client's tables: cells are cut to their column with a marker,
// so that a table never grows wider than the width it was given.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mailtap::cli {

// Width in columns of UTF-8 text (one per code point: the client prints no wide characters of
// its own, and a peer's are at worst misaligned, never lost: json keeps every byte).
size_t DisplayWidth(std::string_view text);

// `text` in at most `width` columns: unchanged when it fits, else its start and "…".
std::string Elide(std::string_view text, size_t width);

// `text` elided to `width`, then padded with spaces to exactly `width` columns.
std::string Pad(std::string_view text, size_t width);

struct Column {
  std::string title;
  size_t width;  // columns; the last column of a row is elided to it but never padded
};

// One line (no newline): the cells elided and padded to their columns, two spaces apart.
std::string FormatRow(const std::vector<Column>& columns, const std::vector<std::string>& cells);

// The titles as a row.
std::string FormatHeader(const std::vector<Column>& columns);

// Widths for a complete list of rows: each column as wide as its widest cell or title, capped at
// the column's `width`; then, while the row is wider than `total_width`, the widest column
// narrows by one (down to its title's width).
std::vector<Column> FitColumns(std::vector<Column> columns,
                               const std::vector<std::vector<std::string>>& rows,
                               size_t total_width);

}  // namespace mailtap::cli
