#include "mime/parser.h"

#include <fmt/format.h>
#include <strings.h>

#include <algorithm>
#include <array>

#include "mime/header_field.h"

namespace mailtap::mime {
namespace {

enum class ContentKind : uint8_t { kMultipart, kMessage, kText, kOther };
enum class Encoding : uint8_t { k7Bit, k8Bit, kBinary, kQuotedPrintable, kBase64, kOther };

constexpr std::string_view kAnalyzerSource = "SMTP";
constexpr std::string_view kCrlf = "\r\n";
// A header buffer larger than this after a header is given back (most headers are far smaller).
constexpr size_t kKeptHeaderCapacity = 4096;

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

bool IsLws(char c) { return c == ' ' || c == '\t'; }

ContentKind KindOf(std::string_view type) {
  if (EqualsIgnoreCase(type, "multipart")) return ContentKind::kMultipart;
  if (EqualsIgnoreCase(type, "message")) return ContentKind::kMessage;
  if (EqualsIgnoreCase(type, "text")) return ContentKind::kText;
  return ContentKind::kOther;
}

Encoding EncodingOf(std::string_view token) {
  constexpr std::array<std::pair<std::string_view, Encoding>, 5> kNames{{
      {"7bit", Encoding::k7Bit},
      {"8bit", Encoding::k8Bit},
      {"binary", Encoding::kBinary},
      {"quoted-printable", Encoding::kQuotedPrintable},
      {"base64", Encoding::kBase64},
  }};
  for (const auto& [name, encoding] : kNames) {
    if (EqualsIgnoreCase(token, name)) return encoding;
  }
  return Encoding::kOther;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

struct MimeMessage::Entity {
  ContentKind kind = ContentKind::kText;  // Zeek's default: text/plain
  Encoding encoding = Encoding::kOther;
  std::optional<std::string> boundary;
  bool in_header = true;
  bool ended = false;
  bool parent_is_multipart = false;
  // In a multipart body the CRLF before the next boundary belongs to the boundary (RFC 2046
  // section 5.1.1): a line's CRLF is only added once another line follows.
  bool delay_crlf = false;
  size_t depth = 0;
  std::string header;  // the folded header being collected
  bool have_header = false;
  std::string kept_headers;  // for mime_all_headers
  std::optional<Base64Decoder> base64;
};

MimeMessage::MimeMessage(MimeListener& listener, MimeCounters& counters, MimeLimits limits,
                         MimeWants wants, MimeDataBudget* data_budget)
    : listener_(listener),
      counters_(counters),
      limits_(limits),
      wants_(wants),
      data_budget_(data_budget),
      md5_(StartDigest(wants.content_hash, EVP_md5())),
      sha256_(StartDigest(wants.content_hash_sha256, EVP_sha256())) {
  segment_.reserve(kSegmentLength);
  entities_.emplace_back();
  counters_.entities.Add();
  listener_.OnBeginEntity();
}

MimeMessage::~MimeMessage() {
  if (data_budget_ != nullptr) data_budget_->Resize(this, held_, 0);
}

MimeMessage::Digest MimeMessage::StartDigest(bool wanted, const EVP_MD* type) {
  Digest digest(wanted ? EVP_MD_CTX_new() : nullptr, EVP_MD_CTX_free);
  if (digest && EVP_DigestInit_ex(digest.get(), type, nullptr) != 1) digest.reset();
  return digest;
}

void MimeMessage::FinishDigest(Digest& digest, HashKind kind) {
  unsigned char bytes[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (digest && EVP_DigestFinal_ex(digest.get(), bytes, &size) == 1) {
    listener_.OnContentHash(kind, all_length_,
                            std::string_view(reinterpret_cast<const char*>(bytes), size));
  }
  digest.reset();
}

bool MimeMessage::in_header() const { return entities_.front().in_header; }

bool MimeMessage::NeedsBody() const {
  const Entity& top = entities_.front();
  if (finished_) return false;
  if (top.in_header || top.kind == ContentKind::kMultipart || top.kind == ContentKind::kMessage) {
    return true;
  }
  return wants_.body || wants_.entity_data || wants_.all_data || wants_.content_hash;
}

// Zeek hands each line to the top-level entity, which passes it down to its open child while it
// is a multipart or message body: the line belongs to the innermost entity that takes it.
void MimeMessage::Line(std::string_view line, LineEnd end) {
  if (finished_) return;
  size_t index = 0;
  while (true) {
    Entity& e = entities_[index];
    if (e.in_header) {
      HeaderLine(index, line);
      return;
    }
    if (e.kind == ContentKind::kMultipart && MultipartLine(index, line)) return;
    if (e.kind != ContentKind::kMultipart && e.kind != ContentKind::kMessage) {
      DecodeLine(e, line, end);
      Flush();
      return;
    }
    // Preamble and epilogue (no open child) are dropped.
    if (index + 1 >= entities_.size()) return;
    ++index;
  }
}

void MimeMessage::HeaderLine(size_t index, std::string_view line) {
  Entity& e = entities_[index];
  // Zeek also ends the header block at a line starting with NUL.
  if (line.empty() || line[0] == '\0') {
    EndHeaders(index);
  } else if (IsLws(line[0])) {
    ContinueHeader(e, line);
  } else {
    NewHeader(e, line);
  }
}

void MimeMessage::NewHeader(Entity& e, std::string_view line) {
  FinishHeader(e);
  if (line.empty()) return;
  e.header.clear();
  AppendHeaderLine(e, line);
  e.have_header = true;
}

// As Zeek, a line is appended while the header is below the cap; unlike Zeek, no more than
// max_header_bytes of one line, so a header never holds more than twice the cap (issue 17: a
// line of any length was kept whole until the next header line, which need never come).
void MimeMessage::AppendHeaderLine(Entity& e, std::string_view line) {
  if (limits_.max_header_bytes > 0 && line.size() > limits_.max_header_bytes) {
    line = line.substr(0, limits_.max_header_bytes);
    counters_.header_lines_dropped.Add();
    listener_.OnWeird("exceeded_mime_max_header_bytes",
                      std::to_string(e.header.size() + line.size()), kAnalyzerSource);
  }
  e.header.append(line);
}

// Folded lines are appended as they are, leading whitespace included (spec 19.1).
void MimeMessage::ContinueHeader(Entity& e, std::string_view line) {
  if (!e.have_header) {
    // "first header line starts with linear whitespace": taken as a header without it.
    counters_.format_problems.Add();
    size_t ws = 0;
    while (ws < line.size() && IsLws(line[ws])) ++ws;
    NewHeader(e, line.substr(ws));
    return;
  }
  if (limits_.max_header_bytes > 0 && e.header.size() >= limits_.max_header_bytes) {
    counters_.header_lines_dropped.Add();
    listener_.OnWeird("exceeded_mime_max_header_bytes", std::to_string(e.header.size()),
                      kAnalyzerSource);
    return;
  }
  AppendHeaderLine(e, line);
}

void MimeMessage::FinishHeader(Entity& e) {
  if (!e.have_header) return;
  e.have_header = false;
  if (const auto field = ParseHeaderField(e.header)) {
    ApplyHeader(e, field->name, field->value);
    listener_.OnHeader(field->name, field->value);
    if (wants_.all_headers) KeepHeader(e, field->name, field->value);
  }
  e.header.clear();
  // A long header's allocation is not kept for the rest of the message.
  if (e.header.capacity() > kKeptHeaderCapacity) e.header.shrink_to_fit();
}

void MimeMessage::KeepHeader(Entity& e, std::string_view name, std::string_view value) {
  const size_t size = name.size() + 2 + value.size() + kCrlf.size();
  if (e.kept_headers.size() + size > kMaxKeptHeaderBytes) {
    counters_.kept_headers_dropped.Add();
    return;
  }
  e.kept_headers.append(name).append(": ").append(value).append(kCrlf);
}

// Zeek's ParseMIMEHeader: only Content-Type and Content-Transfer-Encoding change the parsing.
void MimeMessage::ApplyHeader(Entity& e, std::string_view name, std::string_view value) {
  if (EqualsIgnoreCase(name, "content-type")) {
    const auto type = ParseContentType(value);
    if (!type) {
      counters_.format_problems.Add();
      return;
    }
    e.kind = KindOf(type->type);
    if (type->boundary) {
      if (type->boundary->size() > kMaxBoundaryLength) {
        counters_.boundaries_too_long.Add();
      } else {
        e.boundary = std::move(type->boundary);
      }
    }
    if (e.kind == ContentKind::kMultipart && !e.boundary) {
      // Zeek: "content is treated as type application/octet-stream".
      counters_.format_problems.Add();
      e.kind = ContentKind::kOther;
    }
  } else if (EqualsIgnoreCase(name, "content-transfer-encoding")) {
    if (const auto token = FirstToken(value)) {
      e.encoding = EncodingOf(*token);
    } else {
      counters_.format_problems.Add();
    }
  }
}

// The empty line after the headers: the body begins (Zeek's BeginBody).
void MimeMessage::EndHeaders(size_t index) {
  Entity& e = entities_[index];
  FinishHeader(e);
  e.in_header = false;
  if (wants_.all_headers) {
    listener_.OnAllHeaders(e.kept_headers);
    std::string().swap(e.kept_headers);
  }
  if (e.encoding == Encoding::kBase64) e.base64.emplace(static_cast<Base64Listener&>(*this));
  if (e.kind == ContentKind::kMessage) BeginChild(index);
}

// A "--boundary" line (RFC 2046 section 5.1.1) ends the open part and begins the next one;
// "--boundary--" ends the multipart. Whatever follows the boundary on the line is ignored.
bool MimeMessage::MultipartLine(size_t index, std::string_view line) {
  const Entity& e = entities_[index];
  if (!e.boundary || !line.starts_with("--")) return false;
  const std::string_view rest = line.substr(2);
  if (!rest.starts_with(*e.boundary)) return false;
  const bool closing = rest.substr(e.boundary->size()).starts_with("--");
  EndChildOf(index);
  if (closing) {
    EndEntity(index);
  } else if (!entities_[index].ended) {
    BeginChild(index);
  }
  return true;
}

void MimeMessage::BeginChild(size_t parent) {
  const Entity& p = entities_[parent];
  // Zeek: deeper entities are not created; their lines stay with (and are dropped by) the parent.
  if (limits_.max_depth > 0 && p.depth >= limits_.max_depth) {
    counters_.depth_exceeded.Add();
    listener_.OnWeird("exceeded_mime_max_depth", std::to_string(p.depth), kAnalyzerSource);
    return;
  }
  Entity child;
  child.encoding = p.encoding;  // inherited until the child's own header says otherwise
  child.depth = p.depth + 1;
  child.parent_is_multipart = p.kind == ContentKind::kMultipart;
  entities_.push_back(std::move(child));
  counters_.entities.Add();
  ResetEntityData();
  listener_.OnBeginEntity();
}

void MimeMessage::EndChildOf(size_t index) {
  if (index + 1 >= entities_.size()) return;
  EndEntity(index + 1);
  entities_.resize(index + 1);
}

// Zeek's EndOfData: open children end first; a base64 body's last partial group is decoded.
void MimeMessage::EndEntity(size_t index) {
  if (entities_[index].ended) return;
  entities_[index].ended = true;
  if (entities_[index].in_header) {
    FinishHeader(entities_[index]);
    entities_[index].in_header = false;
    if (wants_.all_headers) listener_.OnAllHeaders(entities_[index].kept_headers);
    counters_.format_problems.Add();  // "entity body missing"
  } else {
    if (index + 1 < entities_.size() && entities_[index].kind == ContentKind::kMultipart) {
      counters_.format_problems.Add();  // "multipart closing boundary delimiter missing"
    }
    EndChildOf(index);
    Entity& e = entities_[index];
    if (e.base64) {
      e.base64->Finish(&scratch_);
      Append(scratch_);
      scratch_.clear();
      e.base64.reset();
    }
    Flush();
  }
  if (wants_.entity_data) listener_.OnEntityData(entity_data_.length, entity_data_.bytes);
  listener_.OnEndEntity();
  ResetEntityData();
}

void MimeMessage::ResetEntityData() {
  entity_data_.Release();
  UpdateHeld();
}

void MimeMessage::DecodeLine(Entity& e, std::string_view line, LineEnd end) {
  switch (e.encoding) {
    case Encoding::kQuotedPrintable:
      DecodeQuotedPrintable(line);
      return;
    case Encoding::kBase64:
      if (e.base64) {
        e.base64->Decode(line, &scratch_);
        Append(scratch_);
        scratch_.clear();
      }
      return;
    default:
      break;
  }
  if (e.delay_crlf) {
    e.delay_crlf = false;
    Append(kCrlf);
  }
  Append(line);
  if (end == LineEnd::kNone) return;
  if (e.parent_is_multipart) {
    e.delay_crlf = true;
  } else {
    Append(kCrlf);
  }
}

// RFC 2045 section 6.7, with Zeek's robustness rules: trailing blanks are dropped, a final '='
// is a soft line break, a bad '=' or control character is kept as is (and noted).
void MimeMessage::DecodeQuotedPrintable(std::string_view line) {
  size_t end = line.size();
  while (end > 0 && (line[end - 1] == ' ' || line[end - 1] == '\t')) --end;
  bool soft_break = false;
  for (size_t i = 0; i < end; ++i) {
    const char c = line[i];
    if (c == '=') {
      if (i + 1 == end) {
        soft_break = true;
      } else if (i + 2 < line.size() && HexDigit(line[i + 1]) >= 0 && HexDigit(line[i + 2]) >= 0) {
        scratch_.push_back(static_cast<char>(HexDigit(line[i + 1]) * 16 + HexDigit(line[i + 2])));
        i += 2;
      } else {
        counters_.quoted_printable_problems.Add();
        scratch_.push_back(c);
      }
      continue;
    }
    const auto u = static_cast<unsigned char>(c);
    if (!((u >= 33 && u <= 126) || c == ' ' || c == '\t')) {
      counters_.quoted_printable_problems.Add();
    }
    scratch_.push_back(c);
  }
  if (!soft_break) scratch_.append(kCrlf);
  Append(scratch_);
  scratch_.clear();
}

void MimeMessage::Append(std::string_view bytes) {
  while (!bytes.empty()) {
    const size_t n = std::min(kSegmentLength - segment_.size(), bytes.size());
    segment_.append(bytes.substr(0, n));
    bytes.remove_prefix(n);
    if (segment_.size() == kSegmentLength) Flush();
  }
}

void MimeMessage::Flush() {
  if (segment_.empty()) return;
  Submit(segment_);
  segment_.clear();
}

// Zeek's MIME_Mail::SubmitData: the hash and the data events see what the file sees.
void MimeMessage::Submit(std::string_view bytes) {
  if (md5_) EVP_DigestUpdate(md5_.get(), bytes.data(), bytes.size());
  if (sha256_) EVP_DigestUpdate(sha256_.get(), bytes.data(), bytes.size());
  all_length_ += bytes.size();
  all_data_.length += bytes.size();
  entity_data_.length += bytes.size();
  if (wants_.all_data) Keep(bytes, kMaxAllDataBytes, all_data_, counters_.all_data_truncated);
  if (wants_.entity_data) {
    Keep(bytes, kMaxEntityDataBytes, entity_data_, counters_.entity_data_truncated);
  }
  listener_.OnData(bytes);
}

void MimeMessage::Keep(std::string_view bytes, size_t cap, HeldData& held, Counter& truncated) {
  const size_t room = cap - std::min(cap, held.kept);
  if (bytes.size() > room && !held.truncated) {
    held.truncated = true;
    truncated.Add();
  }
  bytes = bytes.substr(0, room);
  if (bytes.empty()) return;
  if (held.bytes.size() + bytes.size() > held.bytes.capacity()) GrowFor(held, bytes.size(), cap);
  held.bytes.append(bytes);
  held.kept += bytes.size();
}

namespace {
constexpr size_t kMinDataCapacity = 4096;
size_t HeapBytes(const std::string& s) {
  static const size_t inline_capacity = std::string().capacity();
  return s.capacity() > inline_capacity ? s.capacity() : 0;
}
// By a quarter at a time (not doubled), so that the budget counts at most a quarter more than
// the data: copying stays linear overall (geometric growth).
size_t GrownCapacity(const std::string& s, size_t more, size_t cap) {
  return std::min(cap,
                  std::max({s.size() + more, s.capacity() + s.capacity() / 4, kMinDataCapacity}));
}
}  // namespace

// The budget is asked before the buffer grows, so that it never holds more than it was given;
// making room may flush this very message (its buffers are then empty).
void MimeMessage::GrowFor(HeldData& held, size_t more, size_t cap) {
  if (data_budget_ != nullptr) {
    const size_t want = GrownCapacity(held.bytes, more, cap);
    data_budget_->MakeRoom(want - std::min(want, HeapBytes(held.bytes)));
  }
  held.bytes.reserve(GrownCapacity(held.bytes, more, cap));
  UpdateHeld();
}

size_t MimeMessage::HeldBytes() const {
  return HeapBytes(entity_data_.bytes) + HeapBytes(all_data_.bytes);
}

void MimeMessage::UpdateHeld() {
  const size_t now = HeldBytes();
  if (data_budget_ != nullptr && now != held_) data_budget_->Resize(this, held_, now);
  held_ = now;
}

// Each buffer's data so far becomes an event of its own; the next one (at the entity's or the
// message's end, or the next flush) carries what follows, so that the pieces add up to what an
// unbounded monitor would have raised once.
void MimeMessage::FlushHeld() {
  MimeListener& listener = listener_;
  const uint64_t entity_length = entity_data_.length;
  const uint64_t all_length = all_data_.length;
  std::string entity_bytes;
  std::string all_bytes;
  entity_bytes.swap(entity_data_.bytes);
  all_bytes.swap(all_data_.bytes);
  const bool raise_entity = !entity_bytes.empty();
  const bool raise_all = !all_bytes.empty();
  if (raise_entity) entity_data_.length = 0;
  if (raise_all) all_data_.length = 0;
  UpdateHeld();
  counters_.data_flushed_early.Add(static_cast<uint64_t>(raise_entity) + raise_all);
  if (raise_entity) listener.OnEntityData(entity_length, entity_bytes);
  if (raise_all) listener.OnAllData(all_length, all_bytes);
}

void MimeDataBudget::MakeRoom(size_t bytes) {
  while (used_ + bytes > limit_ && !holders_.empty()) {
    const size_t before = used_;
    holders_.rbegin()->second->FlushHeld();
    if (used_ >= before) break;  // nothing freed: never loop
  }
}

void MimeDataBudget::Resize(MimeMessage* message, size_t before, size_t after) {
  if (before > 0) holders_.erase({before, message});
  if (after > 0) holders_.insert({after, message});
  used_ = used_ - before + after;
}

void MimeMessage::Gap(uint64_t length) {
  if (!finished_ && length > 0) listener_.OnGap(length);
}

void MimeMessage::Finish() {
  if (finished_) return;
  EndEntity(0);
  finished_ = true;
  if (wants_.all_data) listener_.OnAllData(all_data_.length, all_data_.bytes);
  all_data_.Release();
  UpdateHeld();
  FinishDigest(md5_, HashKind::kMd5);
  FinishDigest(sha256_, HashKind::kSha256);
}

void MimeMessage::OnIllegalBase64(std::string_view message) {
  counters_.base64_problems.Add();
  listener_.OnWeird("base64_illegal_encoding", message, "");
}

}  // namespace mailtap::mime
