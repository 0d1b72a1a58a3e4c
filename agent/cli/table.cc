#include "cli/table.h"

#include <algorithm>

namespace mailtap::cli {
namespace {

constexpr std::string_view kEllipsis = "…";
constexpr size_t kGap = 2;  // spaces between columns

bool IsContinuationByte(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// Byte offset after the first `columns` code points of `text`.
size_t PrefixBytes(std::string_view text, size_t columns) {
  size_t i = 0;
  while (i < text.size() && columns > 0) {
    ++i;
    while (i < text.size() && IsContinuationByte(text[i])) ++i;
    --columns;
  }
  return i;
}

}  // namespace

size_t DisplayWidth(std::string_view text) {
  return static_cast<size_t>(
      std::count_if(text.begin(), text.end(), [](char c) { return !IsContinuationByte(c); }));
}

std::string Elide(std::string_view text, size_t width) {
  if (DisplayWidth(text) <= width) return std::string(text);
  if (width == 0) return "";
  return std::string(text.substr(0, PrefixBytes(text, width - 1))) + std::string(kEllipsis);
}

std::string Pad(std::string_view text, size_t width) {
  std::string out = Elide(text, width);
  out.append(width - DisplayWidth(out), ' ');
  return out;
}

std::string FormatRow(const std::vector<Column>& columns, const std::vector<std::string>& cells) {
  std::string line;
  for (size_t i = 0; i < columns.size(); ++i) {
    std::string_view cell = i < cells.size() ? std::string_view(cells[i]) : "-";
    bool last = i + 1 == columns.size();
    line += last ? Elide(cell, columns[i].width) : Pad(cell, columns[i].width);
    if (!last) line.append(kGap, ' ');
  }
  line.erase(line.find_last_not_of(' ') + 1);  // an empty last cell leaves no trailing blanks
  return line;
}

std::string FormatHeader(const std::vector<Column>& columns) {
  std::vector<std::string> titles;
  for (const auto& c : columns) titles.push_back(c.title);
  return FormatRow(columns, titles);
}

std::vector<Column> FitColumns(std::vector<Column> columns,
                               const std::vector<std::vector<std::string>>& rows,
                               size_t total_width) {
  std::vector<size_t> widths;
  for (size_t i = 0; i < columns.size(); ++i) {
    size_t w = DisplayWidth(columns[i].title);
    for (const auto& row : rows) {
      if (i < row.size()) w = std::max(w, DisplayWidth(row[i]));
    }
    widths.push_back(std::min(w, columns[i].width));
  }
  auto total = [&] {
    size_t sum = columns.empty() ? 0 : kGap * (columns.size() - 1);
    for (size_t w : widths) sum += w;
    return sum;
  };
  while (total() > total_width) {
    auto widest = std::max_element(widths.begin(), widths.end());
    size_t i = static_cast<size_t>(widest - widths.begin());
    if (*widest <= DisplayWidth(columns[i].title)) break;
    --*widest;
  }
  for (size_t i = 0; i < columns.size(); ++i) columns[i].width = widths[i];
  return columns;
}

}  // namespace mailtap::cli
