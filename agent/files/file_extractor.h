// Opt-in extraction of files (and of whole messages as .eml) into a directory, with disk caps.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "common/unique_fd.h"
#include "mailtap/flow.h"
#include "mailtap/stats.h"

namespace mailtap {

enum class ExtractWhat { kNone, kFiles, kMessages, kAll };
inline constexpr std::array<std::pair<std::string_view, ExtractWhat>, 4> kExtractWhatNames{{
    {"none", ExtractWhat::kNone},
    {"files", ExtractWhat::kFiles},
    {"messages", ExtractWhat::kMessages},
    {"all", ExtractWhat::kAll},
}};

// Zeek's FileExtract::default_limit is 100 MiB per file; a connection and the whole agent get
// caps too, so that one sender cannot fill the disk.
inline constexpr uint64_t kDefaultExtractFileBytes = 100ULL << 20;
inline constexpr uint64_t kDefaultExtractConnectionBytes = 200ULL << 20;
inline constexpr uint64_t kDefaultExtractTotalBytes = 10ULL << 30;

struct ExtractConfig {
  ExtractWhat what = ExtractWhat::kNone;  // private by default: nothing is written
  std::string dir;                        // must exist; REQUIRED unless what == kNone
  uint64_t max_file_bytes = kDefaultExtractFileBytes;
  uint64_t max_connection_bytes = kDefaultExtractConnectionBytes;
  uint64_t max_total_bytes = kDefaultExtractTotalBytes;  // written by this agent since start
};

// One file being written.
struct ExtractedFile {
  UniqueFd fd;
  std::string name;  // inside the directory: "<fuid>" or "<fuid>.eml", never a sender's name
  uint64_t size = 0;
  bool cutoff = false;  // a cap, a gap or a write error stopped it: the file is partial
  // Why it stopped: the counter that the bytes after the cut-off are lost to.
  enum class Cut { kNone, kFileCap, kConnectionCap, kTotalCap, kGap, kWriteError } cut = Cut::kNone;
};

// Writes each file as DIR/<fuid> and each whole message as DIR/<fuid>.eml, created with
// O_EXCL|O_NOFOLLOW (mode 0600: message content is private), never replacing anything. Caps per
// file, per connection and in total: what does not fit is cut off, the file marked partial, and
// each cap hit and each byte cut counted. Not thread-safe: the pipeline thread only.
class FileExtractor : public StatsSource {
 public:
  // Opens the directory. Throws std::runtime_error naming it and the errno text (start-up).
  explicit FileExtractor(ExtractConfig config);

  // A new file of `conn`: nullopt when its kind is not extracted or it cannot be created
  // (counted, logged once until a file can be created again).
  std::optional<ExtractedFile> Open(std::string_view fuid, bool is_message);
  // Appends what the caps allow; a write error stops the file (cut back to its last whole
  // chunk, counted, logged once until a write succeeds again).
  void Write(ExtractedFile& file, const Connection* conn, std::string_view bytes);
  // Bytes are missing: the file on disk stops here, marked partial.
  void Gap(ExtractedFile& file);
  void Close(ExtractedFile& file) { file.fd.Reset(); }
  void ConnectionRemoved(const Connection* conn) { connection_bytes_.erase(conn); }

  // Group "extract": files, bytes, cap hits, and the bytes not written by cause (loss causes
  // extract_file_cap, extract_connection_cap, extract_total_cap, extract_write_error,
  // extract_after_gap).
  void VisitStats(StatsVisitor& visitor) const override;

 private:
  uint64_t Allowance(const ExtractedFile& file, const Connection* conn,
                     ExtractedFile::Cut* binding) const;
  void CutOff(ExtractedFile& file, ExtractedFile::Cut cause);
  void CountCut(ExtractedFile::Cut cause, uint64_t bytes);
  bool WriteAll(ExtractedFile& file, std::string_view bytes);
  void ReportError(std::string_view what, const std::string& name, int error);

  ExtractConfig config_;
  UniqueFd dir_fd_;
  std::map<const Connection*, uint64_t> connection_bytes_;  // one entry per extracting connection
  uint64_t total_bytes_ = 0;
  bool failing_ = false;
  Counter files_, bytes_, open_failures_, gap_cutoffs_;
  Counter file_cap_hits_, connection_cap_hits_, total_cap_hits_, write_errors_;
  Counter file_cap_bytes_, connection_cap_bytes_, total_cap_bytes_, write_error_bytes_, gap_bytes_;
};

}  // namespace mailtap
