#include "capture/capture_input.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <utility>
#include <vector>

namespace mailtap {
namespace {

// How long a blocked read sleeps in poll() between looks at the stop flag.
constexpr int kStopCheckMs = 200;
constexpr size_t kCompressedChunk = 64 * 1024;

std::string Label(const std::string& path) {
  return path == "-" ? std::string("'-' (standard input)") : "'" + path + "'";
}

[[noreturn]] void ThrowOpenError(const std::string& path, int error) {
  throw std::runtime_error("cannot read capture file " + Label(path) + ": " + std::strerror(error));
}

// One open input: the descriptor, the first bytes read to recognise gzip, and the inflater.
class InputCookie {
 public:
  InputCookie(int fd, bool own_fd, bool stream, std::shared_ptr<const std::atomic<bool>> stop)
      : fd_(fd), own_fd_(own_fd), stream_(stream), stop_(std::move(stop)) {}
  ~InputCookie() {
    if (compressed_) inflateEnd(&zs_);
    if (own_fd_) ::close(fd_);
  }
  InputCookie(const InputCookie&) = delete;
  InputCookie& operator=(const InputCookie&) = delete;

  // Reads the first bytes; true (and the inflater set up) if they are gzip's magic.
  bool DetectGzip() {
    while (peek_len_ < 2) {
      const ssize_t n = ReadRaw(peek_ + peek_len_, 2 - peek_len_, /*use_peek=*/false);
      if (n <= 0) break;
      peek_len_ += static_cast<size_t>(n);
    }
    compressed_ = peek_len_ == 2 && static_cast<unsigned char>(peek_[0]) == 0x1f &&
                  static_cast<unsigned char>(peek_[1]) == 0x8b;
    if (compressed_) {
      in_.resize(kCompressedChunk);
      // 16 + MAX_WBITS: a gzip wrapper, not zlib's.
      if (inflateInit2(&zs_, 16 + MAX_WBITS) != Z_OK) throw std::runtime_error("zlib: no memory");
    }
    return compressed_;
  }

  ssize_t Read(char* buf, size_t n) {
    return compressed_ ? Inflate(buf, n) : ReadRaw(buf, n, true);
  }

  void SetOnWait(std::function<void()> on_wait) { on_wait_ = std::move(on_wait); }

  bool Readable(int wait_ms) const {
    if (peek_pos_ < peek_len_ || !stream_) return true;
    if (compressed_ && (zs_.avail_in > 0 || output_was_full_)) return true;
    pollfd pfd{fd_, POLLIN, 0};
    return ::poll(&pfd, 1, wait_ms) != 0;
  }

 private:
  bool StopRequested() const { return stop_ && stop_->load(std::memory_order_relaxed); }

  // Waits for a stream to have bytes (or end); false if a stop was requested first.
  bool WaitForBytes() const {
    while (!StopRequested()) {
      pollfd pfd{fd_, POLLIN, 0};
      if (::poll(&pfd, 1, kStopCheckMs) != 0) return true;
      if (on_wait_) on_wait_();
    }
    return false;
  }

  // Up to `n` bytes of the file as stored: the peeked bytes first. 0 at its end or on a stop.
  ssize_t ReadRaw(char* buf, size_t n, bool use_peek) {
    if (use_peek && peek_pos_ < peek_len_) {
      const size_t k = std::min(n, peek_len_ - peek_pos_);
      std::memcpy(buf, peek_ + peek_pos_, k);
      peek_pos_ += k;
      return static_cast<ssize_t>(k);
    }
    if (stream_ && !WaitForBytes()) return 0;
    ssize_t r = 0;
    do {
      r = ::read(fd_, buf, n);
    } while (r < 0 && errno == EINTR);
    return r;
  }

  // Inflated bytes; 0 at the end of the input. Members of a multi-member gzip file follow on.
  ssize_t Inflate(char* buf, size_t n) {
    zs_.next_out = reinterpret_cast<Bytef*>(buf);
    zs_.avail_out = static_cast<uInt>(std::min<size_t>(n, UINT32_MAX));
    const uInt wanted = zs_.avail_out;
    while (zs_.avail_out == wanted) {
      if (zs_.avail_in == 0) {
        const ssize_t got = ReadRaw(reinterpret_cast<char*>(in_.data()), in_.size(), true);
        if (got < 0) return -1;
        if (got == 0) break;  // the end (a member cut short reads as a truncated capture)
        zs_.next_in = in_.data();
        zs_.avail_in = static_cast<uInt>(got);
      }
      const int rc = inflate(&zs_, Z_NO_FLUSH);
      if (rc == Z_STREAM_END) {
        inflateReset(&zs_);
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        errno = EIO;  // corrupt data: libpcap reports a read error, the replay ends there
        return -1;
      }
    }
    output_was_full_ = zs_.avail_out == 0;
    return static_cast<ssize_t>(wanted - zs_.avail_out);
  }

  int fd_;
  bool own_fd_;
  bool stream_;
  std::shared_ptr<const std::atomic<bool>> stop_;
  std::function<void()> on_wait_;
  char peek_[2] = {};
  size_t peek_len_ = 0;
  size_t peek_pos_ = 0;
  bool compressed_ = false;
  bool output_was_full_ = false;  // inflate may hold more output than the last read took
  z_stream zs_{};
  std::vector<Bytef> in_;
};

ssize_t CookieRead(void* cookie, char* buf, size_t n) {
  return static_cast<InputCookie*>(cookie)->Read(buf, n);
}

int CookieClose(void* cookie) {
  delete static_cast<InputCookie*>(cookie);
  return 0;
}

}  // namespace

CaptureInput OpenCaptureInput(const std::string& path,
                              std::shared_ptr<const std::atomic<bool>> stop) {
  const bool is_stdin = path == "-";
  const int fd = is_stdin ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) ThrowOpenError(path, errno);
  struct stat st {};
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    if (!is_stdin) ::close(fd);
    ThrowOpenError(path, EISDIR);
  }
  const bool stream = !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode);
  auto cookie = std::make_unique<InputCookie>(fd, !is_stdin, stream, std::move(stop));
  CaptureInput input;
  input.stream = stream;
  input.compressed = cookie->DetectGzip();
  InputCookie* raw = cookie.get();
  input.readable = [raw](int wait_ms) { return raw->Readable(wait_ms); };
  input.set_on_wait = [raw](std::function<void()> on_wait) { raw->SetOnWait(std::move(on_wait)); };
  input.file = fopencookie(cookie.release(), "r", {CookieRead, nullptr, nullptr, CookieClose});
  if (input.file == nullptr) {
    const int error = errno;
    CookieClose(raw);
    ThrowOpenError(path, error);
  }
  // A stream is read unbuffered, so that readable() sees every byte libpcap has not taken.
  if (stream) std::setvbuf(input.file, nullptr, _IONBF, 0);
  return input;
}

}  // namespace mailtap
