#include "sinks/file_output.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "common/log.h"

namespace mailtap {

FileOutput::FileOutput(std::string path, size_t buffer_bytes, OpenMode mode)
    : path_(std::move(path)), buffer_bytes_(buffer_bytes) {
  fd_ = OpenPath(mode);
  if (fd_ < 0) {
    throw std::runtime_error("cannot open '" + path_ + "' for writing: " + std::strerror(errno));
  }
  buffer_.reserve(buffer_bytes_);
}

FileOutput::~FileOutput() {
  Flush();
  CloseFd();
}

int FileOutput::OpenPath(OpenMode mode) const {
  if (is_stdout()) return STDOUT_FILENO;
  const int truncate = mode == OpenMode::kTruncate ? O_TRUNC : 0;
  return ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | truncate, 0644);
}

void FileOutput::CloseFd() {
  if (fd_ >= 0 && fd_ != STDOUT_FILENO) ::close(fd_);
  fd_ = -1;
}

void FileOutput::Append(std::string_view records) {
  buffer_.append(records);
  if (buffer_.size() >= buffer_bytes_) Flush();
}

void FileOutput::AppendLine(std::string_view line) {
  buffer_.append(line);
  buffer_.push_back('\n');
  if (buffer_.size() >= buffer_bytes_) Flush();
}

void FileOutput::Flush() {
  if (buffer_.empty()) return;
  if (fd_ < 0) {
    bytes_dropped_.Add(buffer_.size());
    buffer_.clear();
    return;
  }
  size_t done = 0;
  int error = 0;
  while (done < buffer_.size()) {
    const ssize_t n = ::write(fd_, buffer_.data() + done, buffer_.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = n < 0 ? errno : EIO;
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (error == 0) {
    bytes_written_.Add(done);
    if (failing_) ReportRecovery();
  } else {
    // Disk full, pipe closed, ...: the data path never throws, so count and drop, and keep what
    // the file holds made of whole records.
    const size_t kept = TakeBackPartialRecord(done);
    bytes_written_.Add(kept);
    bytes_dropped_.Add(buffer_.size() - kept);
    write_errors_.Add();
    if (!failing_) ReportFailure(error);
  }
  buffer_.clear();
  if (line_left_open_) buffer_.push_back('\n');  // ends the fragment before the next record
  line_left_open_ = false;
}

// The buffer holds whole records (lines); a write that stopped inside one left its start in the
// file, where the next write would splice onto it. A regular file is cut back to the last whole
// record; where that is impossible (a pipe), the next write starts with a newline instead.
size_t FileOutput::TakeBackPartialRecord(size_t written) {
  const size_t last_newline = std::string_view(buffer_).substr(0, written).rfind('\n');
  const size_t whole = last_newline == std::string_view::npos ? 0 : last_newline + 1;
  if (whole == written) return written;
  const off_t end = ::lseek(fd_, 0, SEEK_CUR);
  const off_t partial = static_cast<off_t>(written - whole);
  if (end < partial || ::ftruncate(fd_, end - partial) != 0) line_left_open_ = true;
  return whole;
}

void FileOutput::ReportFailure(int error) {
  failing_ = true;
  Log(Severity::kError,
      "cannot write to '{}': {}; its records are dropped (counted in `mailtap status`) until "
      "writing works again",
      path_, std::strerror(error));
}

void FileOutput::ReportRecovery() {
  failing_ = false;
  Log(Severity::kWarn, "writing to '{}' works again; {} bytes were dropped so far", path_,
      bytes_dropped_.Get());
}

// Opens the new file before closing the old one: when the path cannot be opened (logrotate
// made a file or directory the unprivileged agent may not write), the output goes on into the
// file it had, renamed or not, instead of being lost until the next SIGHUP.
bool FileOutput::Reopen() {
  Flush();
  if (is_stdout()) return true;
  const int fd = OpenPath(OpenMode::kAppend);
  if (fd < 0) {
    const int e = errno;
    reopen_failures_.Add();
    Log(Severity::kWarn,
        "cannot reopen '{}' after SIGHUP: {}; still writing to the file opened before (it may "
        "have been renamed). The agent runs as uid {}: let it create files in the directory, "
        "e.g. chown it to that user",
        path_, std::strerror(e), ::geteuid());
    return false;
  }
  CloseFd();
  fd_ = fd;
  return true;
}

bool FileOutput::HandTo(uid_t uid, gid_t gid) {
  if (is_stdout() || ::fchown(fd_, uid, gid) == 0) return true;
  Log(Severity::kWarn,
      "cannot hand '{}' to uid {} ({}): after SIGHUP the unprivileged agent may be unable to "
      "reopen it",
      path_, uid, std::strerror(errno));
  return false;
}

void FileOutput::VisitStats(StatsVisitor& v, std::string_view group, std::string_view what,
                            std::string_view loss_cause) const {
  v.Visit(group, "bytes_written", bytes_written(), fmt::format("Bytes written to {}.", what));
  v.Visit(group, "write_errors", write_errors(), fmt::format("Failed writes to {}.", what));
  v.Visit(group, "bytes_dropped", bytes_dropped(),
          fmt::format("Bytes of {} lost to write errors.", what), StatKind::kCounter,
          Loss{loss_cause, LossUnit::kBytes});
  v.Visit(group, "reopen_failures", reopen_failures(),
          fmt::format("Failed reopens of {} (SIGHUP).", what));
}

}  // namespace mailtap
