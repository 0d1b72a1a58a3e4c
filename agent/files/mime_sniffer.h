// Content type by content sniffing (Zeek's file_sniff / files.log mime_type), with libmagic.
#pragma once

#include <optional>
#include <string>
#include <string_view>

struct magic_set;  // libmagic's handle (magic_t), kept out of this header

namespace mailtap {

// Owns one libmagic handle. Not thread-safe: one per thread (the pipeline's).
class MimeSniffer {
 public:
  // Loads the system's magic database. Throws std::runtime_error with libmagic's message when it
  // cannot (start-up).
  MimeSniffer();
  ~MimeSniffer();
  MimeSniffer(const MimeSniffer&) = delete;
  MimeSniffer& operator=(const MimeSniffer&) = delete;

  // The media type of a file that begins with `head` ("text/plain", "image/png"), or nullopt
  // when there is nothing to tell (an empty or whitespace-only head, or libmagic gives up).
  std::optional<std::string> Sniff(std::string_view head) const;

 private:
  ::magic_set* cookie_ = nullptr;
};

}  // namespace mailtap
