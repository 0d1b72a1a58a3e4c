// File replay: a pcap or pcapng file (or standard input) read with libpcap, decoded by
// PacketDecoder and filtered to the SMTP ports.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "capture/decoder.h"
#include "mailtap/capture_source.h"
#include "mailtap/port_set.h"

struct pcap;  // libpcap's pcap_t, kept out of this header

namespace mailtap {

class PcapSource : public CaptureSource {
 public:
  // Opens `path` ("-" = standard input), pcap or pcapng, gzip-compressed or not (capture_input.h),
  // with nanosecond timestamps where the file has them (truncated to microseconds in
  // TcpSegment::ts). Setting `stop` (shared with whoever may stop the replay before Open returns)
  // ends the input as Stop() does, also while a read from a pipe waits.
  // Throws std::runtime_error at start-up, naming the file and the cause, e.g.
  //   cannot read capture file 'x.pcap': No such file or directory
  // for a missing or unreadable file, a directory, a file that is not a capture, or a link type
  // PacketDecoder does not handle.
  static std::unique_ptr<PcapSource> Open(const std::string& path, PortSet ports,
                                          std::shared_ptr<std::atomic<bool>> stop = nullptr);

  ~PcapSource() override;
  PcapSource(const PcapSource&) = delete;
  PcapSource& operator=(const PcapSource&) = delete;

  // Returns TCP segments with a port in the PortSet; other packets are counted and skipped
  // (not_smtp_port and the decoder's reasons). A read error mid-file (e.g. a truncated dump) is
  // counted as pcap_read_errors, reported on stderr in one line naming the file, and ends the
  // input. segment->payload points into libpcap's buffer: valid until the next call.
  // Performs no heap allocation per packet.
  CaptureStatus Next(TcpSegment* segment) override;

  // Makes the next Next() return kEndOfInput (checked between packets). Thread-safe.
  void Stop() override;

  // A stream only (a regular file never waits).
  void SetInputWaitHook(std::function<void()> hook) override {
    if (set_on_wait_) set_on_wait_(std::move(hook));
  }

  // "pcap file <path>".
  std::string Describe() const override;

  // Group "capture": the decoder's counters, not_smtp_port and pcap_read_errors. Call on the
  // thread that calls Next().
  void VisitStats(StatsVisitor& visitor) const override;

  // The file's link type (a DLT_* value).
  int link_type() const { return link_type_; }

 private:
  struct PcapCloser {
    void operator()(pcap* p) const;
  };
  using PcapHandle = std::unique_ptr<pcap, PcapCloser>;

  PcapSource(std::string path, PcapHandle handle, PortSet ports,
             std::shared_ptr<std::atomic<bool>> stop);
  CaptureStatus EndWithReadError();
  bool StreamIsQuiet() const;

  static constexpr int kStreamPollMs = 200;

  std::string path_;
  PcapHandle pcap_;
  int link_type_;
  PortSet ports_;
  std::function<bool(int)> readable_;  // for a stream (pipe, terminal): CaptureInput::readable
  std::function<void(std::function<void()>)> set_on_wait_;  // CaptureInput::set_on_wait
  PacketDecoder decoder_;
  bool ended_ = false;
  std::shared_ptr<std::atomic<bool>> stop_requested_;
  uint64_t not_smtp_port_ = 0;
  uint64_t read_errors_ = 0;
};

}  // namespace mailtap
