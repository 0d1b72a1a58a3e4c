// Content type by content sniffing (Zeek's file_sniff / files.log mime_type), with libmagic.
#pragma once

#include <optional>
#include <string>
#include <string_view>

struct magic_set;  // libmagic's handle (magic_t), kept out of this header

namespace mailtap {

// Owns two libmagic handles. Not thread-safe: one per thread (the pipeline's).
//
// libmagic's full database ("soft magic") is cheap on binary content (10-200 us for 4 KiB) but
// costs 0.2-1.4 ms on text, where it runs its regular-expression tests for programming
// languages: on a mail host most files are text parts, and at that price a burst of messages
// would overflow the capture ring. So the built-in tests (encodings, JSON, CSV; ~20 us) go first:
// text is typed by them, plus HTML by its markup; only content they do not call text gets the
// full database. Text subtypes the database would name (text/x-diff, text/x-shellscript...) are
// text/plain here (docs/zeek-divergences.md).
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
  static ::magic_set* Open(int flags);
  static std::optional<std::string> Ask(::magic_set* cookie, std::string_view head);

  ::magic_set* builtin_ = nullptr;  // without soft magic: text, JSON, CSV
  ::magic_set* full_ = nullptr;     // the whole database, for everything else
};

}  // namespace mailtap
