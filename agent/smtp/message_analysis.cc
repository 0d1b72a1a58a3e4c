#include "smtp/message_analysis.h"

#include <cctype>
#include <utility>

#include "mime/header_field.h"
#include "smtp/protocol.h"

namespace mailtap::smtp {
namespace {

std::string LowerAscii(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

constexpr std::string_view kMessageType = "message/rfc822";

}  // namespace

MessageAnalysis::MessageAnalysis(MessageOutput& output, const Connection& conn,
                                 mime::MimeCounters& counters, mime::MimeLimits limits,
                                 const FileAnalysis& files, UidGenerator& own_ids,
                                 mime::MimeDataBudget* data_budget)
    : output_(output),
      conn_(conn),
      counters_(counters),
      limits_(limits),
      files_(files),
      own_ids_(own_ids),
      data_budget_(data_budget) {}

MessageAnalysis::~MessageAnalysis() = default;

mime::MimeWants MessageAnalysis::Wants() const {
  return {.all_headers = output_.WantsEvent(EventId::kMimeAllHeaders),
          .entity_data = output_.WantsEvent(EventId::kMimeEntityData),
          .all_data = output_.WantsEvent(EventId::kMimeAllData),
          .content_hash = output_.WantsEvent(EventId::kMimeContentHash),
          .content_hash_sha256 = output_.WantsEvent(EventId::kMimeContentHashSha256),
          .body = files_.sink != nullptr};
}

// Spec 9 "Start message": the MIME message first (mime_begin_entity), then the message file.
void MessageAnalysis::Begin(bool is_orig) {
  is_orig_ = is_orig;
  message_ = std::make_unique<mime::MimeMessage>(static_cast<mime::MimeListener&>(*this), counters_,
                                                 limits_, Wants(), data_budget_);
  if (files_.rfc822_messages && files_.sink != nullptr) {
    message_fuid_ = BeginFile(std::string(kMessageType), "", true);
  }
}

void MessageAnalysis::Line(std::string_view line, mime::LineEnd end) {
  if (message_) message_->Line(line, end);
}

void MessageAnalysis::RawMessageBytes(std::string_view bytes) {
  if (message_fuid_.empty() || bytes.empty()) return;
  files_.sink->FileData(message_fuid_, output_.Now(), bytes);
}

void MessageAnalysis::Gap(uint64_t length) {
  if (message_) message_->Gap(length);
  if (!message_fuid_.empty()) files_.sink->FileGap(message_fuid_, output_.Now(), length);
}

// Spec 9 "Close message": the MIME message ends (its events, its files), then the message file.
void MessageAnalysis::End() {
  if (!message_) return;
  message_->Finish();
  message_.reset();
  if (!message_fuid_.empty()) {
    files_.sink->EndFile(message_fuid_, output_.Now());
    message_fuid_.clear();
  }
}

std::string MessageAnalysis::BeginFile(std::string declared_type, std::string filename,
                                       bool is_message) {
  UidGenerator& ids = files_.file_ids != nullptr ? *files_.file_ids : own_ids_;
  FileInfo info;
  info.fuid = ids.Next('F');
  info.conn = &conn_;
  info.ts = output_.Now();
  info.is_orig = is_orig_;
  info.depth = entities_seen_;
  info.filename = std::move(filename);
  info.declared_type = std::move(declared_type);
  info.parent_fuid = is_message ? "" : message_fuid_;
  info.is_message = is_message;
  info.inside_tls = output_.InsideTls();
  files_.sink->BeginFile(info);
  return info.fuid;
}

// Zeek creates an entity's file with its first byte (or gap): an entity without body has none.
void MessageAnalysis::EnsureEntityFile() {
  if (entity_fuid_.empty()) entity_fuid_ = BeginFile(entity_type_, entity_filename_, false);
}

void MessageAnalysis::OnBeginEntity() {
  ++entities_seen_;
  entity_fuid_.clear();
  entity_filename_.clear();
  entity_type_.clear();
  output_.Announce(EventId::kMimeBeginEntity);
}

// entities.zeek takes the file name from Content-Disposition "filename=" or Content-Type "name=".
void MessageAnalysis::OnHeader(std::string_view original_name, std::string_view value) {
  const std::string name = UpperAscii(original_name);
  if ((name == "CONTENT-DISPOSITION" && mime::HasFilenameParameter(value)) ||
      (name == "CONTENT-TYPE" && mime::HasNameParameter(value))) {
    entity_filename_ = mime::FilenameFromHeaderValue(value);
  }
  if (name == "CONTENT-TYPE") {
    if (const auto type = mime::ParseContentType(value)) {
      entity_type_ = LowerAscii(type->type) + "/" + LowerAscii(type->subtype);
    }
  }
  output_.Header(original_name, value);
}

void MessageAnalysis::OnAllHeaders(std::string_view header_block) {
  output_.DispatchEvent(
      ev::mime_all_headers::Make(output_.Now(), &conn_, {.hlist = std::string(header_block)}));
}

void MessageAnalysis::OnData(std::string_view bytes) {
  if (files_.sink == nullptr) return;
  EnsureEntityFile();
  files_.sink->FileData(entity_fuid_, output_.Now(), bytes);
}

void MessageAnalysis::OnGap(uint64_t length) {
  if (files_.sink == nullptr) return;
  EnsureEntityFile();
  files_.sink->FileGap(entity_fuid_, output_.Now(), length);
}

void MessageAnalysis::OnEntityData(uint64_t length, std::string_view data) {
  output_.DispatchEvent(ev::mime_entity_data::Make(
      output_.Now(), &conn_, {.length = static_cast<int64_t>(length), .data = std::string(data)}));
}

// mime_end_entity, then the entity's file ends (Zeek's MIME_Mail::EndEntity).
void MessageAnalysis::OnEndEntity() {
  output_.Announce(EventId::kMimeEndEntity);
  if (!entity_fuid_.empty() && files_.sink != nullptr) {
    files_.sink->EndFile(entity_fuid_, output_.Now());
  }
  entity_fuid_.clear();
  entity_filename_.clear();
  entity_type_.clear();
}

void MessageAnalysis::OnAllData(uint64_t length, std::string_view data) {
  output_.DispatchEvent(ev::mime_all_data::Make(
      output_.Now(), &conn_, {.length = static_cast<int64_t>(length), .data = std::string(data)}));
}

void MessageAnalysis::OnContentHash(mime::HashKind kind, uint64_t length, std::string_view digest) {
  const auto content_len = static_cast<int64_t>(length);
  if (kind == mime::HashKind::kMd5) {
    output_.DispatchEvent(ev::mime_content_hash::Make(
        output_.Now(), &conn_, {.content_len = content_len, .hash_value = std::string(digest)}));
  } else {
    output_.DispatchEvent(ev::mime_content_hash_sha256::Make(
        output_.Now(), &conn_, {.content_len = content_len, .hash_value = std::string(digest)}));
  }
}

void MessageAnalysis::OnWeird(std::string_view name, std::string_view addl,
                              std::string_view source) {
  output_.RaiseWeird(name, addl, source);
}

}  // namespace mailtap::smtp
