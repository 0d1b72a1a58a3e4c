// A mail message as any bytes, parsed by the MIME analyzer: split into lines at LF (a line
// ending in LF without CR is a BDAT line without terminator), with every data event wanted and
// small limits so that the caps are reached. It must neither crash nor read outside its input,
// and stay within its bounds: the kept entity data never exceeds its cap, the entity count never
// exceeds what the nesting limit allows at once.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "mime/parser.h"

namespace {

class Checker : public mailtap::mime::MimeListener {
 public:
  void OnBeginEntity() override {
    if (++open_ > kMaxDepth + 1) std::abort();  // the top level plus kMaxDepth children
  }
  void OnHeader(std::string_view, std::string_view) override {}
  void OnAllHeaders(std::string_view block) override {
    if (block.size() > mailtap::mime::kMaxKeptHeaderBytes) std::abort();
  }
  void OnData(std::string_view bytes) override {
    if (bytes.empty() || bytes.size() > mailtap::mime::kSegmentLength) std::abort();
    seen_ += bytes.size();
  }
  void OnGap(uint64_t) override {}
  void OnEntityData(uint64_t length, std::string_view data) override {
    if (data.size() > length || data.size() > mailtap::mime::kMaxEntityDataBytes) std::abort();
  }
  void OnEndEntity() override {
    if (open_-- == 0) std::abort();  // an end without a begin
  }
  void OnAllData(uint64_t length, std::string_view data) override {
    if (length != seen_ || data.size() > length) std::abort();
  }
  void OnContentHash(mailtap::mime::HashKind, uint64_t length, std::string_view digest) override {
    if (length != seen_ || digest.empty()) std::abort();
  }
  void OnWeird(std::string_view name, std::string_view, std::string_view) override {
    if (name.empty()) std::abort();
  }
  bool balanced() const { return open_ == 0; }

  static constexpr size_t kMaxDepth = 8;

 private:
  size_t open_ = 0;
  uint64_t seen_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mailtap::mime;
  Checker checker;
  MimeCounters counters;
  MimeMessage message(checker, counters, {.max_header_bytes = 256, .max_depth = Checker::kMaxDepth},
                      {.all_headers = true,
                       .entity_data = true,
                       .all_data = true,
                       .content_hash = true,
                       .content_hash_sha256 = true,
                       .body = true});
  std::string_view in(reinterpret_cast<const char*>(data), size);
  while (!in.empty()) {
    const size_t lf = in.find('\n');
    std::string_view line = in.substr(0, lf);
    in.remove_prefix(lf == std::string_view::npos ? in.size() : lf + 1);
    if (line.ends_with('\r')) {
      line.remove_suffix(1);
      message.Line(line, LineEnd::kCrlf);
    } else if (line.size() > 2 && line[0] == '\x01') {
      message.Gap(static_cast<uint8_t>(line[1]));
    } else {
      message.Line(line, LineEnd::kNone);
    }
  }
  message.Finish();
  if (!checker.balanced()) std::abort();
  return 0;
}
