// Field values of any bytes through both log formats: a Zeek (TSV) line always has exactly one
// field per column and no raw newline; a JSON line always parses as one object with the fields
// that were set. Input: fields separated by 0xFF bytes; the first byte chooses limits.
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "sinks/zeek_log.h"

namespace {

std::vector<std::string> SplitFields(const uint8_t* data, size_t size) {
  std::vector<std::string> fields(1);
  for (size_t i = 0; i < size; ++i) {
    if (data[i] == 0xff) {
      fields.emplace_back();
    } else {
      fields.back().push_back(static_cast<char>(data[i]));
    }
  }
  return fields;
}

std::string BuildLine(mailtap::LogFormat format, const mailtap::LogLimits& limits,
                      const std::vector<std::string>& fields) {
  using namespace mailtap;
  LogLineBuilder b(format, limits);
  b.Time("ts", Timestamp{static_cast<int64_t>(fields[0].size()) * 1'000'001});
  b.String("s", fields[0]);
  b.String("unset", std::nullopt);
  b.StringSet("set", std::vector<std::string>(fields.begin(), fields.end()));
  b.StringSet("empty_set", std::vector<std::string>{});
  b.Count("n", fields.size());
  b.Bool("b", fields.size() % 2 == 0);
  return b.Finish();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mailtap;
  if (size < 1) return 0;
  LogLimits limits;
  if (data[0] & 1) limits.max_field_string_bytes = 7;
  if (data[0] & 2) limits.max_field_container_elements = 3;
  if (data[0] & 4) limits.max_total_string_bytes = 20;
  const std::vector<std::string> fields = SplitFields(data + 1, size - 1);

  const std::string tsv = BuildLine(LogFormat::kZeek, limits, fields);
  size_t tabs = 0;
  for (char c : tsv) {
    if (c == '\n' || c == '\r') std::abort();
    tabs += c == '\t';
  }
  if (tabs != 6) std::abort();  // seven columns

  const std::string json = BuildLine(LogFormat::kJson, limits, fields);
  const auto parsed = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object() || !parsed.contains("ts") || parsed.contains("unset")) std::abort();
  return 0;
}
