#include "files/file_extractor.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "common/log.h"

namespace mailtap {
namespace {

using Cut = ExtractedFile::Cut;

bool Wanted(ExtractWhat what, bool is_message) {
  if (what == ExtractWhat::kAll) return true;
  return is_message ? what == ExtractWhat::kMessages : what == ExtractWhat::kFiles;
}

uint64_t Remaining(uint64_t cap, uint64_t used) { return used >= cap ? 0 : cap - used; }

}  // namespace

FileExtractor::FileExtractor(ExtractConfig config) : config_(std::move(config)) {
  if (config_.what == ExtractWhat::kNone) return;
  dir_fd_.Reset(::open(config_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!dir_fd_.valid()) {
    throw std::runtime_error("cannot open extraction directory '" + config_.dir +
                             "': " + std::strerror(errno));
  }
}

// The name is made of the fuid only (letters and digits the MIME analyzer chose), so nothing a
// sender wrote reaches the file system; O_EXCL|O_NOFOLLOW refuse to follow or reuse whatever
// somebody else put in the directory.
std::optional<ExtractedFile> FileExtractor::Open(std::string_view fuid, bool is_message) {
  if (!dir_fd_.valid() || !Wanted(config_.what, is_message)) return std::nullopt;
  ExtractedFile file;
  file.name.assign(fuid);
  if (is_message) file.name += ".eml";
  file.fd.Reset(::openat(dir_fd_.get(), file.name.c_str(),
                         O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!file.fd.valid()) {
    open_failures_.Add();
    ReportError("create", file.name, errno);
    return std::nullopt;
  }
  files_.Add();
  return file;
}

void FileExtractor::Write(ExtractedFile& file, const Connection* conn, std::string_view bytes) {
  if (bytes.empty()) return;
  if (file.cutoff) return CountCut(file.cut, bytes.size());
  Cut binding = Cut::kNone;
  const uint64_t allowed = Allowance(file, conn, &binding);
  const std::string_view fits = bytes.substr(0, std::min<uint64_t>(allowed, bytes.size()));
  if (!fits.empty()) {
    if (!WriteAll(file, fits)) return CountCut(Cut::kWriteError, bytes.size());
    file.size += fits.size();
    total_bytes_ += fits.size();
    connection_bytes_[conn] += fits.size();
    bytes_.Add(fits.size());
  }
  if (fits.size() < bytes.size()) {
    CutOff(file, binding);
    CountCut(binding, bytes.size() - fits.size());
  }
}

void FileExtractor::Gap(ExtractedFile& file) {
  if (!file.cutoff) CutOff(file, Cut::kGap);
}

uint64_t FileExtractor::Allowance(const ExtractedFile& file, const Connection* conn,
                                  Cut* binding) const {
  uint64_t allowed = Remaining(config_.max_file_bytes, file.size);
  *binding = Cut::kFileCap;
  auto it = connection_bytes_.find(conn);
  const uint64_t conn_left =
      Remaining(config_.max_connection_bytes, it == connection_bytes_.end() ? 0 : it->second);
  if (conn_left < allowed) {
    allowed = conn_left;
    *binding = Cut::kConnectionCap;
  }
  const uint64_t total_left = Remaining(config_.max_total_bytes, total_bytes_);
  if (total_left < allowed) {
    allowed = total_left;
    *binding = Cut::kTotalCap;
  }
  return allowed;
}

void FileExtractor::CutOff(ExtractedFile& file, Cut cause) {
  file.cutoff = true;
  file.cut = cause;
  file.fd.Reset();  // nothing more is written to it
  switch (cause) {
    case Cut::kFileCap:
      return file_cap_hits_.Add();
    case Cut::kConnectionCap:
      return connection_cap_hits_.Add();
    case Cut::kTotalCap:
      return total_cap_hits_.Add();
    case Cut::kGap:
      return gap_cutoffs_.Add();
    case Cut::kWriteError:
      return write_errors_.Add();
    case Cut::kNone:
      return;
  }
}

void FileExtractor::CountCut(Cut cause, uint64_t bytes) {
  switch (cause) {
    case Cut::kFileCap:
      return file_cap_bytes_.Add(bytes);
    case Cut::kConnectionCap:
      return connection_cap_bytes_.Add(bytes);
    case Cut::kTotalCap:
      return total_cap_bytes_.Add(bytes);
    case Cut::kGap:
      return gap_bytes_.Add(bytes);
    case Cut::kWriteError:
      return write_error_bytes_.Add(bytes);
    case Cut::kNone:
      return;
  }
}

// A short or failed write (disk full, I/O error) leaves the file as it was before this chunk,
// as FileOutput leaves whole records only: the file on disk is then exactly `size` bytes, the
// prefix the record's extracted_size reports.
bool FileExtractor::WriteAll(ExtractedFile& file, std::string_view bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(file.fd.get(), bytes.data() + done, bytes.size() - done);
    if (n > 0) {
      done += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    const int error = n < 0 ? errno : ENOSPC;
    if (::ftruncate(file.fd.get(), static_cast<off_t>(file.size)) != 0) {
      Log(Severity::kWarn, "cannot cut '{}' back to {} bytes: {}", file.name, file.size,
          std::strerror(errno));
    }
    ReportError("write", file.name, error);
    CutOff(file, Cut::kWriteError);
    return false;
  }
  if (failing_) {
    failing_ = false;
    Log(Severity::kWarn, "extraction into '{}' works again", config_.dir);
  }
  return true;
}

void FileExtractor::ReportError(std::string_view what, const std::string& name, int error) {
  if (failing_) return;
  failing_ = true;
  Log(Severity::kError,
      "cannot {} '{}' in extraction directory '{}': {}; files are extracted partially or not at "
      "all (counted in `mailtap status`) until writing works again",
      what, name, config_.dir, std::strerror(error));
}

void FileExtractor::VisitStats(StatsVisitor& v) const {
  v.Visit("extract", "files", files_.Get(), "Files created in the extraction directory.");
  v.Visit("extract", "bytes", bytes_.Get(), "Bytes written to extracted files.");
  v.Visit("extract", "open_failures", open_failures_.Get(),
          "Files that could not be created in the extraction directory (not extracted).");
  v.Visit("extract", "file_cap_hits", file_cap_hits_.Get(),
          "Extracted files cut off at the per-file cap.");
  v.Visit("extract", "connection_cap_hits", connection_cap_hits_.Get(),
          "Extracted files cut off at the per-connection cap.");
  v.Visit("extract", "total_cap_hits", total_cap_hits_.Get(),
          "Extracted files cut off at the total cap.");
  v.Visit("extract", "gap_cutoffs", gap_cutoffs_.Get(),
          "Extracted files cut off at a gap in their content.");
  v.Visit("extract", "write_errors", write_errors_.Get(),
          "Extracted files cut off by a failed write (disk full, I/O error).");
  v.Visit("extract", "file_cap_bytes", file_cap_bytes_.Get(),
          "Bytes not extracted: beyond the per-file cap.", StatKind::kCounter,
          Loss{"extract_file_cap", LossUnit::kBytes});
  v.Visit("extract", "connection_cap_bytes", connection_cap_bytes_.Get(),
          "Bytes not extracted: beyond the per-connection cap.", StatKind::kCounter,
          Loss{"extract_connection_cap", LossUnit::kBytes});
  v.Visit("extract", "total_cap_bytes", total_cap_bytes_.Get(),
          "Bytes not extracted: beyond the total cap.", StatKind::kCounter,
          Loss{"extract_total_cap", LossUnit::kBytes});
  v.Visit("extract", "write_error_bytes", write_error_bytes_.Get(),
          "Bytes not extracted: a write failed.", StatKind::kCounter,
          Loss{"extract_write_error", LossUnit::kBytes});
  v.Visit("extract", "after_gap_bytes", gap_bytes_.Get(),
          "Bytes not extracted: they followed a gap in the file.", StatKind::kCounter,
          Loss{"extract_after_gap", LossUnit::kBytes});
}

}  // namespace mailtap
