// How the client prints data items: json (as received), compact (one line per item, like
// `hubble observe`), or table (fixed columns under a header).
#pragma once

#include <cstdio>
#include <string>

namespace mailtap::cli {

enum class OutputFormat { kJson, kCompact, kTable };
enum class ItemKind { kEvent, kRecord, kConnection };
enum class Color { kOff, kOn };

// Parses "json", "compact", "table".
bool ParseOutputFormat(const std::string& text, OutputFormat* out);

// Colour only for a terminal and when NO_COLOR is unset or empty (https://no-color.org).
Color ColorFor(std::FILE* out);

class Renderer {
 public:
  Renderer(OutputFormat format, ItemKind kind, Color color, std::FILE* out)
      : format_(format), kind_(kind), color_(color), out_(out) {}
  // `json` is one data line from the agent. In json mode it is printed unchanged; otherwise a
  // line that does not parse is printed unchanged too (never lose data in the view).
  void Print(const std::string& json);

 private:
  void PrintHeader();

  OutputFormat format_;
  ItemKind kind_;
  Color color_;
  std::FILE* out_;
  bool header_done_ = false;
};

}  // namespace mailtap::cli
