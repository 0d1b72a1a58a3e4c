// A streaming MIME parser for one mail message, behaviour-compatible with Zeek's MIME analyzer
// (src/analyzer/protocol/mime/MIME.cc) as its SMTP analyzer drives it: the message arrives as
// lines; entities nest by multipart boundaries and message/* bodies; bodies are decoded (base64,
// quoted-printable) and handed on in segments of at most kSegmentLength bytes.
//
// Bounded: memory is one folded header, one segment, and per open entity its boundary
// (<= kMaxBoundaryLength) and kept headers (<= kMaxKeptHeaderBytes); entities nest at most
// max_depth deep; the entity and message data the data events carry are capped per message and,
// over all messages, by a MimeDataBudget. Every line costs time linear in its length. Every bound
// hit is counted (MimeCounters) and, where Zeek has one, raised as a weird.
#pragma once

#include <openssl/evp.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "mailtap/stats.h"
#include "mime/base64.h"

namespace mailtap::mime {

// Zeek's MIME::max_header_bytes: a folded header grows no further (continuation lines dropped).
inline constexpr size_t kDefaultMaxHeaderBytes = 65536;
// Zeek's MIME::max_depth: entities nest at most this deep (the top level is depth 0).
inline constexpr size_t kDefaultMaxDepth = 100;
// Zeek's mime_segment_length: decoded data is handed on in pieces of at most this size.
inline constexpr size_t kSegmentLength = 1024;
// Not Zeek's (unbounded there). RFC 2046 section 5.1.1 allows 70 characters: a longer boundary
// makes the entity opaque (as a multipart without boundary is in Zeek).
inline constexpr size_t kMaxBoundaryLength = 1024;
// Not Zeek's: headers kept per entity for mime_all_headers; later headers are left out of it.
inline constexpr size_t kMaxKeptHeaderBytes = 256 * 1024;
// Not Zeek's: mime_entity_data / mime_all_data carry at most this much of the data (their
// `length` still counts all of it).
inline constexpr size_t kMaxEntityDataBytes = 1 << 20;
inline constexpr size_t kMaxAllDataBytes = 4 << 20;

struct MimeLimits {
  size_t max_header_bytes = kDefaultMaxHeaderBytes;  // 0 = no limit, as in Zeek
  size_t max_depth = kDefaultMaxDepth;               // 0 = no limit, as in Zeek
};

// Of every message of every session. Pipeline thread only.
struct MimeCounters {
  Counter entities;
  Counter header_lines_dropped;   // exceeded_mime_max_header_bytes
  Counter depth_exceeded;         // exceeded_mime_max_depth
  Counter boundaries_too_long;    // > kMaxBoundaryLength
  Counter kept_headers_dropped;   // > kMaxKeptHeaderBytes, left out of mime_all_headers
  Counter entity_data_truncated;  // mime_entity_data cut at kMaxEntityDataBytes
  Counter all_data_truncated;     // mime_all_data cut at kMaxAllDataBytes
  Counter data_flushed_early;     // data events raised early by the MimeDataBudget
  Counter base64_problems;        // base64_illegal_encoding
  Counter quoted_printable_problems;
  Counter format_problems;  // Zeek's mime_event "illegal format" (no event here)
};

// What the message asks its listener for: data events cost copies, so only when wanted.
struct MimeWants {
  bool all_headers = false;          // mime_all_headers
  bool entity_data = false;          // mime_entity_data
  bool all_data = false;             // mime_all_data
  bool content_hash = false;         // mime_content_hash
  bool content_hash_sha256 = false;  // mime_content_hash_sha256
  bool body = false;                 // OnData (file analysis)
};

enum class HashKind : uint8_t { kMd5, kSha256 };

// Receives a message's structure and data, in Zeek's event order. Views are valid during the
// call only.
class MimeListener {
 public:
  virtual ~MimeListener() = default;
  virtual void OnBeginEntity() = 0;
  virtual void OnHeader(std::string_view original_name, std::string_view value) = 0;
  // The entity's headers as a header block: "Name: value\r\n" per header, in order (only if
  // MimeWants::all_headers). No header line holds CRLF, so the block splits unambiguously.
  virtual void OnAllHeaders(std::string_view header_block) = 0;
  // A segment of the innermost entity's decoded body.
  virtual void OnData(std::string_view bytes) = 0;
  // `length` bytes of the innermost open entity's body are missing.
  virtual void OnGap(uint64_t length) = 0;
  // The entity ends: its data (only if MimeWants::entity_data; at most kMaxEntityDataBytes of
  // `length`), then the end itself.
  virtual void OnEntityData(uint64_t length, std::string_view data) = 0;
  virtual void OnEndEntity() = 0;
  // The message ends (after the top-level entity): all its data (MimeWants::all_data), its MD5
  // (MimeWants::content_hash; 16 raw bytes), then its SHA-256 (content_hash_sha256; 32 bytes).
  virtual void OnAllData(uint64_t length, std::string_view data) = 0;
  virtual void OnContentHash(HashKind kind, uint64_t length, std::string_view digest) = 0;
  // A weird: `source` is "SMTP" for the analyzer's own, empty for the decoder's.
  virtual void OnWeird(std::string_view name, std::string_view addl, std::string_view source) = 0;
};

// Whether a line arrived with a line terminator (always in DATA; BDAT lines may end without).
enum class LineEnd : uint8_t { kCrlf, kNone };

class MimeMessage;

// The bytes all messages may hold for mime_entity_data / mime_all_data together. The per-message
// caps bound one connection; with thousands of connections only a total bounds the sum. When a
// message needs more than is left, the messages holding most hand what they hold to their
// listener early (a data event with the part so far; the next one carries the rest), largest
// first, until the request fits: nothing is lost, and a few connections parking large entities
// cannot keep the others from the budget. Not thread-safe (the pipeline thread owns every
// message).
class MimeDataBudget {
 public:
  explicit MimeDataBudget(size_t limit) : limit_(limit) {}
  MimeDataBudget(const MimeDataBudget&) = delete;
  MimeDataBudget& operator=(const MimeDataBudget&) = delete;
  size_t limit() const { return limit_; }
  size_t used() const { return used_; }

 private:
  friend class MimeMessage;
  // Flushes the largest holders until `bytes` more fit (or nobody holds anything).
  void MakeRoom(size_t bytes);
  // `message` went from holding `before` to `after` bytes.
  void Resize(MimeMessage* message, size_t before, size_t after);

  size_t limit_;
  size_t used_ = 0;
  std::set<std::pair<size_t, MimeMessage*>> holders_;  // by bytes held; only those holding any
};

// One message. Raises OnBeginEntity for the top-level entity on construction.
class MimeMessage : private Base64Listener {
 public:
  // `listener`, `counters` and `data_budget` (nullable: only the per-message caps) must outlive
  // the message.
  MimeMessage(MimeListener& listener, MimeCounters& counters, MimeLimits limits, MimeWants wants,
              MimeDataBudget* data_budget = nullptr);
  ~MimeMessage() override;
  MimeMessage(const MimeMessage&) = delete;
  MimeMessage& operator=(const MimeMessage&) = delete;

  // One line of the message without its terminator.
  void Line(std::string_view line, LineEnd end = LineEnd::kCrlf);
  // `length` bytes of the message are missing (a content gap).
  void Gap(uint64_t length);
  // The end of the message: open entities end, innermost first, then the message events.
  // Idempotent.
  void Finish();
  // Whether the top-level entity is still in its headers.
  bool in_header() const;
  // Whether the message could still raise anything from a body line: false once the top-level
  // entity is a plain (non-multipart, non-message) body whose data nobody wants, so that the
  // caller may skip body lines.
  bool NeedsBody() const;

 private:
  friend class MimeDataBudget;
  struct Entity;

  void HeaderLine(size_t index, std::string_view line);
  void NewHeader(Entity& e, std::string_view line);
  void ContinueHeader(Entity& e, std::string_view line);
  void AppendHeaderLine(Entity& e, std::string_view line);
  void FinishHeader(Entity& e);
  void KeepHeader(Entity& e, std::string_view name, std::string_view value);
  void ApplyHeader(Entity& e, std::string_view name, std::string_view value);
  void EndHeaders(size_t index);
  bool MultipartLine(size_t index, std::string_view line);
  void BeginChild(size_t parent);
  void EndChildOf(size_t index);
  void EndEntity(size_t index);
  void DecodeLine(Entity& e, std::string_view line, LineEnd end);
  void DecodeQuotedPrintable(std::string_view line);
  void Append(std::string_view bytes);
  void Flush();
  void Submit(std::string_view bytes);
  // The data a data event will carry: one buffer, its per-message cap, and what it has taken.
  struct HeldData {
    std::string bytes;    // not yet handed on
    uint64_t length = 0;  // body bytes seen since the last event (all of them, kept or not)
    size_t kept = 0;      // bytes taken since the entity (message) began, toward the cap
    bool truncated = false;
    // Back to empty, the allocation freed (a move assignment could keep it).
    void Release() {
      std::string().swap(bytes);
      length = 0;
      kept = 0;
      truncated = false;
    }
  };
  void Keep(std::string_view bytes, size_t cap, HeldData& held, Counter& truncated);
  void GrowFor(HeldData& held, size_t more, size_t cap);
  size_t HeldBytes() const;
  void UpdateHeld();
  void ResetEntityData();
  // Called by the budget: raises the data events with what is held, then holds nothing.
  // Touches no member after the first listener call (the listener may end this message).
  void FlushHeld();
  void OnIllegalBase64(std::string_view message) override;

  MimeListener& listener_;
  MimeCounters& counters_;
  const MimeLimits limits_;
  const MimeWants wants_;
  std::vector<Entity> entities_;  // [0] the top level, each next one the child of the one before
  std::string segment_;           // decoded bytes not yet handed on (< kSegmentLength)
  std::string scratch_;           // a decoded line
  MimeDataBudget* data_budget_;
  HeldData entity_data_;
  HeldData all_data_;
  uint64_t all_length_ = 0;  // the whole message's decoded length (content hashes)
  size_t held_ = 0;          // heap bytes of both buffers, as the budget knows them
  using Digest = std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)>;
  static Digest StartDigest(bool wanted, const EVP_MD* type);
  void FinishDigest(Digest& digest, HashKind kind);
  Digest md5_;
  Digest sha256_;
  bool finished_ = false;
};

}  // namespace mailtap::mime
