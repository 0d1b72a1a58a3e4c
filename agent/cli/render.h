// How the client prints data items: json (as received), compact (one line per item, like
// `hubble observe`), or table (columns under a header, at most `width` columns wide).
#pragma once

#include <cstdio>
#include <string>
#include <vector>

namespace mailtap::cli {

// kText: the status summary for people (status only).
enum class OutputFormat { kJson, kCompact, kTable, kText };
enum class ItemKind { kEvent, kRecord, kConnection };
enum class Color { kOff, kOn };

// A table fits this many columns, or the terminal's width when stdout is a wider terminal.
inline constexpr size_t kTableWidth = 100;

// Parses "json", "compact", "table".
bool ParseOutputFormat(const std::string& text, OutputFormat* out);

// Colour only for a terminal and when NO_COLOR is unset or empty (https://no-color.org).
Color ColorFor(std::FILE* out);

// kTableWidth, or the width of the terminal `out` is when that is wider.
size_t TableWidthFor(std::FILE* out);

// "45s", "3m12s", "2h05m", "3d04h": a duration in seconds, for people.
std::string FormatAge(double seconds);

class Renderer {
 public:
  Renderer(OutputFormat format, ItemKind kind, Color color, std::FILE* out,
           size_t width = kTableWidth)
      : format_(format), kind_(kind), color_(color), out_(out), width_(width) {}
  // `json` is one data line from the agent. In json mode it is printed unchanged; otherwise a
  // line that does not parse is printed unchanged too (never lose data in the view).
  // Connections (compact and table) are held until Finish(): their ages are measured against
  // the newest packet of the whole list, and the table's columns are sized to it.
  void Print(const std::string& json);
  // Prints what Print() held back. Call once, after the last item.
  void Finish();

 private:
  void PrintEvent(const std::string& line);
  void PrintRecord(const std::string& line);
  void PrintConnections();

  OutputFormat format_;
  ItemKind kind_;
  Color color_;
  std::FILE* out_;
  size_t width_;
  bool header_done_ = false;
  std::vector<std::string> held_;  // connection items, until Finish()
};

}  // namespace mailtap::cli
