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

#include "capture/capture_input.h"
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

std::unique_ptr<PcapSource> PcapSource::Open(const std::string& path, PortSet ports,
                                             std::shared_ptr<std::atomic<bool>> stop) {
  if (!stop) stop = std::make_shared<std::atomic<bool>>(false);
  CaptureInput input = OpenCaptureInput(path, stop);
  char errbuf[PCAP_ERRBUF_SIZE] = {};
  PcapHandle handle(OpenStream(input.file, errbuf));
  if (!handle) {
    std::fclose(input.file);  // on failure libpcap leaves the stream to us
    if (stop->load()) ThrowOpenError(path, "stopped before its first packet");
    ThrowOpenError(path, DescribePcapError(errbuf));
  }
  int link_type = pcap_datalink(handle.get());
  if (!PacketDecoder::SupportsLinkType(link_type)) {
    const char* name = pcap_datalink_val_to_name(link_type);
    ThrowOpenError(path, "unsupported link type " + std::string(name ? name : "?") + " (" +
                             std::to_string(link_type) + ")");
  }
  auto source = std::unique_ptr<PcapSource>(
      new PcapSource(path, std::move(handle), std::move(ports), std::move(stop)));
  if (input.stream) {
    source->readable_ = std::move(input.readable);
    source->set_on_wait_ = std::move(input.set_on_wait);
  }
  return source;
}

// While a stream is quiet, Next() returns kTimeout now and then, so that the pipeline still
// flushes outputs, expires idle connections, refreshes status and honours SIGHUP/SIGTERM.
bool PcapSource::StreamIsQuiet() const { return readable_ && !readable_(kStreamPollMs); }

PcapSource::PcapSource(std::string path, PcapHandle handle, PortSet ports,
                       std::shared_ptr<std::atomic<bool>> stop)
    : path_(std::move(path)),
      pcap_(std::move(handle)),
      link_type_(pcap_datalink(pcap_.get())),
      ports_(std::move(ports)),
      stop_requested_(std::move(stop)) {}

PcapSource::~PcapSource() = default;

CaptureStatus PcapSource::Next(TcpSegment* segment) {
  while (!ended_) {
    if (stop_requested_->load(std::memory_order_relaxed)) break;
    pcap_pkthdr* header = nullptr;
    const u_char* data = nullptr;
    if (StreamIsQuiet()) return CaptureStatus::kTimeout;
    int rc = pcap_next_ex(pcap_.get(), &header, &data);
    if (rc == PCAP_ERROR_BREAK) break;  // end of file
    if (rc < 0) {
      // A stop request ends a read that waited mid-packet: that is the end, not a read error.
      if (stop_requested_->load(std::memory_order_relaxed)) break;
      return EndWithReadError();
    }
    if (rc == 0) return CaptureStatus::kTimeout;  // live handles only; not for files
    if (!decoder_.Decode(link_type_, ToTimestamp(header->ts), {data, header->caplen}, header->len,
                         segment)) {
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

void PcapSource::Stop() { stop_requested_->store(true, std::memory_order_relaxed); }

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
