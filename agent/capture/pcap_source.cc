#include "capture/pcap_source.h"

#include <pcap/pcap.h>
#include <poll.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <utility>

#include "common/log.h"

namespace mailtap {
namespace {

constexpr std::string_view kGroup = "capture";

// Nanosecond timestamps when libpcap can deliver them, so that truncation to microseconds is ours
// (and the same for pcap and pcapng files) rather than libpcap's rescaling.
#ifdef PCAP_TSTAMP_PRECISION_NANO
constexpr int64_t kSubsecondsPerUsec = 1000;
pcap_t* OpenStream(FILE* file, char* errbuf) {
  return pcap_fopen_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_NANO, errbuf);
}
#else
constexpr int64_t kSubsecondsPerUsec = 1;
pcap_t* OpenStream(FILE* file, char* errbuf) { return pcap_fopen_offline(file, errbuf); }
#endif

std::string FileLabel(const std::string& path) {
  return path == "-" ? std::string("'-' (standard input)") : "'" + path + "'";
}

[[noreturn]] void ThrowOpenError(const std::string& path, const std::string& cause) {
  throw std::runtime_error("cannot read capture file " + FileLabel(path) + ": " + cause);
}

// libpcap's own text for a file of no known format is terse; say what was expected.
std::string DescribePcapError(const char* errbuf) {
  std::string message = errbuf;
  if (message == "unknown file format") message += " (not a pcap or pcapng file)";
  return message;
}

// We open the file ourselves (rather than pcap_open_offline) so that errno gives the precise
// cause, and so that a directory is refused before libpcap reports an obscure read error.
FILE* OpenFile(const std::string& path) {
  FILE* file = path == "-" ? stdin : std::fopen(path.c_str(), "rb");
  if (file == nullptr) ThrowOpenError(path, std::strerror(errno));
  struct stat st;
  if (fstat(fileno(file), &st) == 0 && S_ISDIR(st.st_mode)) {
    std::fclose(file);
    ThrowOpenError(path, std::strerror(EISDIR));
  }
  return file;
}

// A pipe or terminal (e.g. `tcpdump -w - | mailtapd -r -`) may go quiet for a long time.
bool IsStream(FILE* file) {
  struct stat st;
  return fstat(fileno(file), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode);
}

// A pcapng file can say anything in 64 bits (timestamps, if_tsoffset): beyond what microseconds
// since the epoch hold, the time saturates rather than wrapping (which would be undefined).
Timestamp ToTimestamp(const timeval& tv) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  int64_t usec = 0;
  if (__builtin_mul_overflow(static_cast<int64_t>(tv.tv_sec), int64_t{1000000}, &usec) ||
      __builtin_add_overflow(usec, static_cast<int64_t>(tv.tv_usec) / kSubsecondsPerUsec, &usec)) {
    return Timestamp{tv.tv_sec < 0 ? kMin : kMax};
  }
  return Timestamp{usec};
}

}  // namespace

void PcapSource::PcapCloser::operator()(pcap* p) const { pcap_close(p); }

std::unique_ptr<PcapSource> PcapSource::Open(const std::string& path, PortSet ports) {
  FILE* file = OpenFile(path);
  const bool stream = IsStream(file);
  // Unbuffered, so that poll() on the descriptor tells whether the next record can be read: stdio
  // would otherwise hold bytes that poll cannot see.
  if (stream) std::setvbuf(file, nullptr, _IONBF, 0);
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  PcapHandle handle(OpenStream(file, errbuf));
  if (!handle) {
    // On failure libpcap leaves the stream to us; standard input is not ours to close.
    if (file != stdin) std::fclose(file);
    ThrowOpenError(path, DescribePcapError(errbuf));
  }
  int link_type = pcap_datalink(handle.get());
  if (!PacketDecoder::SupportsLinkType(link_type)) {
    const char* name = pcap_datalink_val_to_name(link_type);
    ThrowOpenError(path, "unsupported link type " + std::string(name ? name : "?") + " (" +
                             std::to_string(link_type) + ")");
  }
  auto source =
      std::unique_ptr<PcapSource>(new PcapSource(path, std::move(handle), std::move(ports)));
  if (stream) source->stream_fd_ = fileno(file);
  return source;
}

// While a stream is quiet, Next() returns kTimeout now and then, so that the pipeline still
// flushes outputs, expires idle connections, refreshes status and honours SIGHUP/SIGTERM.
bool PcapSource::StreamIsQuiet() const {
  if (stream_fd_ < 0) return false;
  pollfd pfd{stream_fd_, POLLIN, 0};
  return ::poll(&pfd, 1, kStreamPollMs) == 0;
}

PcapSource::PcapSource(std::string path, PcapHandle handle, PortSet ports)
    : path_(std::move(path)),
      pcap_(std::move(handle)),
      link_type_(pcap_datalink(pcap_.get())),
      ports_(std::move(ports)) {}

PcapSource::~PcapSource() = default;

CaptureStatus PcapSource::Next(TcpSegment* segment) {
  while (!ended_) {
    if (stop_requested_.load(std::memory_order_relaxed)) break;
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    if (StreamIsQuiet()) return CaptureStatus::kTimeout;
    int rc = pcap_next_ex(pcap_.get(), &header, &data);
    if (rc == PCAP_ERROR_BREAK) break;  // end of file
    if (rc < 0) return EndWithReadError();
    if (rc == 0) return CaptureStatus::kTimeout;  // live handles only; not for files
    if (!decoder_.Decode(link_type_, ToTimestamp(header->ts), {data, header->caplen}, segment)) {
      continue;
    }
    if (ports_.Contains(segment->src_port) || ports_.Contains(segment->dst_port)) {
      return CaptureStatus::kSegment;
    }
    ++not_smtp_port_;
  }
  ended_ = true;
  return CaptureStatus::kEndOfInput;
}

CaptureStatus PcapSource::EndWithReadError() {
  ++read_errors_;
  ended_ = true;
  Log(Severity::kError, "capture file {} ends with a read error, replay stopped there: {}",
      FileLabel(path_), pcap_geterr(pcap_.get()));
  return CaptureStatus::kEndOfInput;
}

void PcapSource::Stop() { stop_requested_.store(true, std::memory_order_relaxed); }

std::string PcapSource::Describe() const { return "pcap file " + path_; }

void PcapSource::VisitStats(StatsVisitor& visitor) const {
  decoder_.VisitStats(visitor);
  visitor.Visit(kGroup, "not_smtp_port", not_smtp_port_,
                "TCP segments with neither port among the SMTP ports");
  visitor.Visit(kGroup, "pcap_read_errors", read_errors_,
                "Capture files whose reading ended early on an error (e.g. truncated)",
                StatKind::kCounter, Loss{"pcap_read_errors", LossUnit::kFiles});
}

}  // namespace mailtap
