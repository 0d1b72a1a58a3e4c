// File analysis: receives the files the MIME analyzer cuts out of messages (FileSink), hashes
// them, sniffs their content type, raises Zeek's file events, optionally extracts them, and
// hands a files.log record per file to a FileRecordSink when it ends.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "files/file_extractor.h"
#include "files/file_hasher.h"
#include "files/file_limits.h"
#include "files/file_record.h"
#include "files/mime_sniffer.h"
#include "mailtap/file_sink.h"
#include "mailtap/sink.h"
#include "mailtap/stats.h"

namespace mailtap {

struct FileAnalysisConfig {
  bool hashes = true;             // md5/sha1/sha256 (Zeek's hash-all-files)
  bool redact_filenames = false;  // --redact data: files.log filename becomes [REDACTED]
  size_t max_open_files_per_connection = kMaxOpenFilesPerConnection;
  size_t max_open_files = kMaxOpenFiles;
};

// Not thread-safe: the pipeline thread only. Added to the event bus as a sink, so that it sees
// connection removals and ends the files a connection still has open (the MIME analyzer ends
// its files first; this is the safety net), and publishes its events into `events`.
class FileAnalyzer : public FileSink, public EventSink, public StatsSource {
 public:
  // `events`, `records` and `extractor` (null: no extraction) must outlive the analyzer.
  // Throws std::runtime_error if libmagic's database cannot be loaded (start-up).
  FileAnalyzer(FileAnalysisConfig config, EventSink& events, FileRecordSink& records,
               FileExtractor* extractor);
  ~FileAnalyzer() override;

  void BeginFile(const FileInfo& info) override;
  void FileData(std::string_view fuid, Timestamp ts, std::string_view bytes) override;
  void FileGap(std::string_view fuid, Timestamp ts, uint64_t length) override;
  void EndFile(std::string_view fuid, Timestamp ts) override;

  void OnEvent(const Event& /*event*/) override {}
  bool Wants(EventId /*id*/) const override { return false; }
  void OnConnectionRemoved(const Connection& conn, Timestamp ts) override;

  size_t open_files() const { return files_.size(); }

  // Group "files": files begun and logged, bytes, and the files and calls not analysed by cause.
  void VisitStats(StatsVisitor& visitor) const override;

 private:
  struct OpenFile;
  using FileMap = std::map<std::string, std::unique_ptr<OpenFile>, std::less<>>;

  void LearnWants();
  bool Admit(const FileInfo& info);
  OpenFile* Find(std::string_view fuid);
  void Sniff(OpenFile& file);
  void Finish(FileMap::iterator it, Timestamp ts);
  FileRecord BuildRecord(OpenFile& file);
  void AddHashes(OpenFile& file, FileRecord& record);
  void RaiseStateRemove(const OpenFile& file, const FileRecord& record);
  void Publish(const FileInfo& file, Event event);

  FileAnalysisConfig config_;
  EventSink& events_;
  FileRecordSink& records_;
  FileExtractor* extractor_;
  MimeSniffer sniffer_;
  FileMap files_;
  std::map<const Connection*, size_t> open_per_connection_;
  bool wants_known_ = false;
  bool want_sniff_ = false, want_gap_ = false, want_hash_ = false, want_new_ = false,
       want_over_ = false, want_remove_ = false;
  Counter begun_, logged_, seen_bytes_, missing_bytes_;
  Counter over_connection_limit_, over_total_limit_, duplicate_begins_, unknown_fuid_calls_;
  Counter ended_by_removal_;
};

// Whether `addr` is in the private address space Zeek treats as local by default
// (Site::private_address_space_is_local): RFC 1918, RFC 6598 shared, loopback, link-local and
// IPv6 unique-local. files.log's local_orig.
bool IsPrivateAddress(const IpAddress& addr);

}  // namespace mailtap
