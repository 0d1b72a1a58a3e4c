#include "files/file_analyzer.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace mailtap {
namespace {

constexpr std::string_view kSource = "SMTP";
// The SMTP analyzer declares a whole message's type itself (Zeek's rfc822 file analysis passes
// it to the file manager); only parts are sniffed.
constexpr std::string_view kMessageType = "message/rfc822";
constexpr std::string_view kRedacted = "[REDACTED]";

struct Prefix {
  uint8_t bytes[16];
  int bits;
};

// IPv4 as mapped IPv6 (::ffff:a.b.c.d), so an IPv4 prefix of n bits is n + 96 here.
constexpr Prefix kPrivatePrefixes[] = {
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10}, 104},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 172, 16}, 108},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168}, 112},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 100, 64}, 106},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127}, 104},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128},
    {{0xfe, 0x80}, 10},
    {{0xfc}, 7},
};

bool InPrefix(const std::array<uint8_t, 16>& addr, const Prefix& p) {
  for (int i = 0; i < 16 && i * 8 < p.bits; ++i) {
    const int bits = std::min(8, p.bits - i * 8);
    const uint8_t mask = static_cast<uint8_t>(0xff << (8 - bits));
    if ((addr[i] & mask) != (p.bytes[i] & mask)) return false;
  }
  return true;
}

}  // namespace

bool IsPrivateAddress(const IpAddress& addr) {
  return std::any_of(std::begin(kPrivatePrefixes), std::end(kPrivatePrefixes),
                     [&](const Prefix& p) { return InPrefix(addr.bytes(), p); });
}

struct FileAnalyzer::OpenFile {
  FileInfo info;
  std::optional<FileHasher> hasher;
  std::string head;  // the first kSniffBytes, until sniffed
  bool sniffed = false;
  std::optional<std::string> mime_type;
  Timestamp last_active;
  uint64_t seen = 0;
  uint64_t missing = 0;
  std::optional<ExtractedFile> extracted;
};

FileAnalyzer::FileAnalyzer(FileAnalysisConfig config, EventSink& events, FileRecordSink& records,
                           FileExtractor* extractor)
    : config_(config), events_(events), records_(records), extractor_(extractor) {}

FileAnalyzer::~FileAnalyzer() = default;

bool FileAnalyzer::Admit(const FileInfo& info) {
  if (files_.find(info.fuid) != files_.end()) {
    duplicate_begins_.Add();
    return false;
  }
  if (files_.size() >= config_.max_open_files) {
    over_total_limit_.Add();
    return false;
  }
  if (open_per_connection_[info.conn] >= config_.max_open_files_per_connection) {
    over_connection_limit_.Add();
    return false;
  }
  return true;
}

// Asked at the first file rather than at construction: the pipeline adds its sinks (and the
// query server its own) after it built the analyzers, and the answers are fixed once it runs.
void FileAnalyzer::LearnWants() {
  wants_known_ = true;
  want_sniff_ = events_.Wants(EventId::kFileSniff);
  want_gap_ = events_.Wants(EventId::kFileGap);
  want_hash_ = events_.Wants(EventId::kFileHash);
  want_new_ = events_.Wants(EventId::kFileNew);
  want_over_ = events_.Wants(EventId::kFileOverNewConnection);
  want_remove_ = events_.Wants(EventId::kFileStateRemove);
}

void FileAnalyzer::BeginFile(const FileInfo& info) {
  if (!wants_known_) LearnWants();
  if (!Admit(info)) return;
  auto file = std::make_unique<OpenFile>();
  file->info = info;
  // Bounded per file (file_limits.h): the plan counts kOpenFileBytes for each open file.
  if (file->info.filename.size() > kMaxKeptFilenameBytes) {
    file->info.filename.resize(kMaxKeptFilenameBytes);
    file->info.filename.shrink_to_fit();
  }
  if (file->info.declared_type.size() > kMaxKeptDeclaredTypeBytes) {
    file->info.declared_type.resize(kMaxKeptDeclaredTypeBytes);
    file->info.declared_type.shrink_to_fit();
  }
  file->head.reserve(kSniffBytes);
  file->last_active = info.ts;
  if (config_.hashes) file->hasher.emplace();
  if (extractor_ != nullptr) file->extracted = extractor_->Open(info.fuid, info.is_message);
  ++open_per_connection_[info.conn];
  begun_.Add();
  files_.emplace(info.fuid, std::move(file));
  const std::string& fuid = info.fuid;
  if (want_new_)
    Publish(info, ev::file_new::Make(info.ts, info.conn, {fuid, std::string(kSource)}));
  if (want_over_) {
    Publish(info, ev::file_over_new_connection::Make(info.ts, info.conn, {fuid, info.is_orig}));
  }
}

FileAnalyzer::OpenFile* FileAnalyzer::Find(std::string_view fuid) {
  auto it = files_.find(fuid);
  if (it != files_.end()) return it->second.get();
  unknown_fuid_calls_.Add();  // a file not admitted (over a limit) or a caller's bug
  return nullptr;
}

void FileAnalyzer::FileData(std::string_view fuid, Timestamp ts, std::string_view bytes) {
  OpenFile* file = Find(fuid);
  if (file == nullptr) return;
  file->seen += bytes.size();
  file->last_active = ts;
  seen_bytes_.Add(bytes.size());
  if (file->hasher) file->hasher->Update(bytes);
  if (!file->sniffed) {
    file->head.append(bytes.substr(0, kSniffBytes - file->head.size()));
    if (file->head.size() >= kSniffBytes) Sniff(*file);
  }
  if (file->extracted) extractor_->Write(*file->extracted, file->info.conn, bytes);
}

// As Zeek's file manager does, a gap ends the beginning-of-file buffer (the type is taken from
// what came before it) and stops the hashes: a digest of content with a hole in it would
// identify nothing. The extracted file stops there too, marked partial.
void FileAnalyzer::FileGap(std::string_view fuid, Timestamp ts, uint64_t length) {
  OpenFile* file = Find(fuid);
  if (file == nullptr) return;
  const uint64_t offset = file->seen + file->missing;
  file->missing += length;
  file->last_active = ts;
  missing_bytes_.Add(length);
  if (!file->sniffed) Sniff(*file);
  file->hasher.reset();
  if (file->extracted) extractor_->Gap(*file->extracted);
  if (want_gap_) {
    Publish(file->info, ev::file_gap::Make(ts, file->info.conn,
                                           {file->info.fuid, static_cast<int64_t>(offset),
                                            static_cast<int64_t>(length)}));
  }
}

void FileAnalyzer::EndFile(std::string_view fuid, Timestamp ts) {
  auto it = files_.find(fuid);
  if (it == files_.end()) {
    unknown_fuid_calls_.Add();
    return;
  }
  Finish(it, ts);
}

void FileAnalyzer::Sniff(OpenFile& file) {
  file.sniffed = true;
  if (file.info.is_message) {
    file.mime_type = std::string(kMessageType);
  } else if (!file.head.empty()) {
    file.mime_type = sniffer_.Sniff(file.head);
  }
  std::string().swap(file.head);
  if (want_sniff_ && file.seen > 0) {
    Publish(file.info, ev::file_sniff::Make(file.last_active, file.info.conn,
                                            {file.info.fuid, file.mime_type.value_or("")}));
  }
}

void FileAnalyzer::Finish(FileMap::iterator it, Timestamp ts) {
  OpenFile& file = *it->second;
  (void)ts;  // Zeek's duration runs to the last byte, not to the end notice
  if (!file.sniffed) Sniff(file);
  FileRecord record = BuildRecord(file);
  AddHashes(file, record);
  if (file.extracted) {
    extractor_->Close(*file.extracted);
    record.extracted = file.extracted->name;
    record.extracted_cutoff = file.extracted->cutoff;
    record.extracted_size = file.extracted->size;
  }
  RaiseStateRemove(file, record);
  records_.OnFileRecord(record);
  logged_.Add();
  auto per_conn = open_per_connection_.find(file.info.conn);
  if (per_conn != open_per_connection_.end() && --per_conn->second == 0) {
    open_per_connection_.erase(per_conn);
  }
  files_.erase(it);
}

FileRecord FileAnalyzer::BuildRecord(OpenFile& file) {
  const FileInfo& info = file.info;
  FileRecord r;
  r.ts = info.ts;
  r.fuid = info.fuid;
  if (info.conn != nullptr) {
    r.uid = info.conn->uid;
    r.id = info.conn->id;
    r.local_orig = IsPrivateAddress(info.is_orig ? r.id.orig_h : r.id.resp_h);
  }
  r.source = std::string(kSource);
  r.depth = info.depth;
  r.mime_type = file.mime_type;
  if (!info.filename.empty()) {
    r.filename = config_.redact_filenames ? std::string(kRedacted) : info.filename;
  }
  r.duration_usec = std::max<int64_t>(0, file.last_active.usec - info.ts.usec);
  r.is_orig = info.is_orig;
  r.seen_bytes = file.seen;
  r.missing_bytes = file.missing;
  if (!info.parent_fuid.empty()) r.parent_fuid = info.parent_fuid;
  return r;
}

// Zeek's hash analyzers report nothing for a file without content or with a gap.
void FileAnalyzer::AddHashes(OpenFile& file, FileRecord& record) {
  if (config_.hashes) {
    for (HashKind kind : kHashKinds) record.analyzers.emplace_back(HashAnalyzerName(kind));
  }
  if (file.extracted) record.analyzers.emplace_back("EXTRACT");
  if (!file.hasher || file.seen == 0) return;
  for (HashKind kind : kHashKinds) {
    std::string hex = file.hasher->Finish(kind);
    if (want_hash_) {
      Publish(file.info,
              ev::file_hash::Make(file.last_active, file.info.conn,
                                  {file.info.fuid, std::string(HashKindName(kind)), hex}));
    }
    std::optional<std::string>& column = kind == HashKind::kMd5    ? record.md5
                                         : kind == HashKind::kSha1 ? record.sha1
                                                                   : record.sha256;
    column = std::move(hex);
  }
}

void FileAnalyzer::RaiseStateRemove(const OpenFile& file, const FileRecord& record) {
  if (!want_remove_) return;
  Publish(file.info, ev::file_state_remove::Make(
                         file.last_active, file.info.conn,
                         {file.info.fuid, std::string(kSource), record.mime_type.value_or(""),
                          static_cast<int64_t>(record.seen_bytes),
                          static_cast<int64_t>(record.missing_bytes)}));
}

// The MIME analyzer ends every file before its connection goes; what is left open here (a
// caller that forgot, or a file begun after the end) ends with the connection, as Zeek ends a
// file whose connection is removed.
void FileAnalyzer::OnConnectionRemoved(const Connection& conn, Timestamp ts) {
  if (open_per_connection_.count(&conn) != 0) {
    std::vector<std::string> left;
    for (const auto& [fuid, file] : files_) {
      if (file->info.conn == &conn) left.push_back(fuid);
    }
    for (const std::string& fuid : left) {
      ended_by_removal_.Add();
      Finish(files_.find(fuid), ts);
    }
  }
  if (extractor_ != nullptr) extractor_->ConnectionRemoved(&conn);
}

// A file's events say, as its message's do, whether its bytes came from inside TLS.
void FileAnalyzer::Publish(const FileInfo& file, Event event) {
  event.inside_tls = file.inside_tls;
  events_.OnEvent(event);
}

void FileAnalyzer::VisitStats(StatsVisitor& v) const {
  v.Visit("files", "begun", begun_.Get(), "Files (MIME entities, messages) analysed.");
  v.Visit("files", "logged", logged_.Get(), "Files ended and handed to files.log.");
  v.Visit("files", "open", files_.size(), "Files open now.", StatKind::kGauge);
  v.Visit("files", "seen_bytes", seen_bytes_.Get(), "Decoded file bytes analysed.");
  v.Visit("files", "missing_bytes", missing_bytes_.Get(), "File bytes missing in content gaps.");
  v.Visit("files", "over_connection_limit", over_connection_limit_.Get(),
          "Files not analysed: the connection had the most files open at once.", StatKind::kCounter,
          Loss{"files_connection_limit", LossUnit::kFiles});
  v.Visit("files", "over_total_limit", over_total_limit_.Get(),
          "Files not analysed: the agent had the most files open at once.", StatKind::kCounter,
          Loss{"files_total_limit", LossUnit::kFiles});
  v.Visit("files", "duplicate_begins", duplicate_begins_.Get(),
          "File begins for a fuid already open (ignored).");
  v.Visit("files", "unknown_fuid_calls", unknown_fuid_calls_.Get(),
          "Data, gap or end calls for a file not open (not admitted, or already ended).");
  v.Visit("files", "ended_by_removal", ended_by_removal_.Get(),
          "Files still open when their connection was removed, ended then.");
}

}  // namespace mailtap
