// BDAT (RFC 3030 CHUNKING): the argument parser (spec 10.1) and the chunk line splitter that
// feeds the MIME header parser (spec 10.4, 10.5).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace mailtap::smtp {

// Result of parsing the text after "BDAT" (spaces/TABs after the command word already skipped,
// trailing whitespace kept). `error` is empty when the argument is valid; otherwise it is one
// of Zeek's five messages, used verbatim as the addl of weird smtp_invalid_bdat_command.
struct BdatArg {
  uint64_t chunk_size = 0;
  bool last = false;
  std::string_view error;  // static storage
};

// The 25-character limit fits "18446744073709551615 LAST".
inline constexpr size_t kMaxBdatArgLength = 25;
// Sizes above this raise weird smtp_huge_bdat_chunk and are not processed (spec 10.1).
inline constexpr uint64_t kMaxBdatChunkSize = 9'223'372'036'854'775'807ULL;

BdatArg ParseBdatArg(std::string_view arg);

// How a chunk line ended: a CRLF terminator was removed, or the line keeps what ended it (a bare
// LF or CR; Zeek passes those on verbatim) or was cut for another reason.
enum class ChunkLineEnd : uint8_t { kCrlfRemoved, kAsSent };

// Receives what the chunk splitter produces.
class BdatChunkListener {
 public:
  virtual ~BdatChunkListener() = default;
  // One line for MIME.
  virtual void OnChunkLine(std::string_view line, ChunkLineEnd end) = 0;
  // A weird with source SMTP_BDAT; `addl` is empty when there is none.
  virtual void OnChunkWeird(std::string_view name, std::string_view addl) = 0;
};

// Splits the raw bytes of the BDAT chunks of one message into lines. Its buffer persists across
// chunks. Memory: holds at most max_line_length bytes plus one delivery.
class BdatChunkSplitter {
 public:
  // REQUIRES: max_line_length >= 1. `listener` must outlive the splitter.
  BdatChunkSplitter(BdatChunkListener& listener, size_t max_line_length);

  // A new chunk of `size` bytes was announced. REQUIRES: the previous chunk is complete.
  void NextChunk(uint64_t size, bool last);

  // Bytes of the current chunk. Bytes beyond the announced size are dropped with weird
  // smtp_bdat_chunk_overflow (defensive: the line splitter never hands over more).
  void Deliver(std::span<const uint8_t> bytes);

  uint64_t remaining() const { return remaining_; }
  bool last_chunk() const { return last_; }
  // True when a LAST chunk has been fully received: the message is complete.
  bool Complete() const { return last_ && remaining_ == 0; }

  // Closes the transfer: buffered text is delivered with weird smtp_bdat_undelivered_at_done.
  void Done();

 private:
  void SplitBuffer(size_t scan_from);

  BdatChunkListener& listener_;
  const size_t max_line_length_;
  std::string buf_;
  uint64_t remaining_ = 0;
  bool last_ = false;
};

}  // namespace mailtap::smtp
