// Live capture: the eBPF socket filter (bpf/mailtap.bpf.c) copies SMTP-port TCP segments into a
// BPF ring buffer; RingbufSource reads them back as TcpSegments. The only code that links libbpf.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "capture/tls_probes.h"
#include "mailtap/capture_source.h"
#include "mailtap/port_set.h"

namespace mailtap {

inline constexpr size_t kDefaultRingSize = size_t{16} << 20;  // --ring-size

struct LiveCaptureConfig {
  // Interfaces to capture on (-i, repeatable). Empty = every interface of the network namespace,
  // including interfaces created after start-up.
  std::vector<std::string> interfaces;
  // Segments whose source or destination port is in this set are captured (--ports).
  PortSet ports = PortSet::Default();
  // Ring buffer size in bytes (--ring-size): a power of two, a multiple of the page size, at
  // most 1 GiB. Records up to 64 KiB + 88 bytes must fit for full-size segments.
  size_t ring_size = kDefaultRingSize;
  // TLS plaintext and socket owners (--tls-plaintext, --tls-processes): the uprobes of
  // tls_probes.h, read by the same Next(). A failure to load them is logged, not fatal.
  TlsCaptureConfig tls;
};

// Reads segments from the kernel through the ring buffer.
//
// Thread safety: Next() from one thread; Stop() from any thread or a signal handler;
// VisitStats() from any thread (counters are atomic or read from the kernel's shared mapping).
//
// Wake-ups: the kernel submits records without waking the reader unless the ring is more than a
// quarter full; Next() otherwise sleeps for up to kPollIntervalMs between reads, which bounds
// the latency and keeps the per-record cost low.
class RingbufSource : public CaptureSource {
 public:
  // 50 ms, not 10: each wake-up refills the caches the mail traffic used meanwhile, and at
  // 100 wake-ups a second that was a fifth of the agent's CPU under load (docs/benchmarks.md).
  static constexpr int kPollIntervalMs = 50;

  // Loads the program into the kernel, fills the port set, sizes the ring buffer, attaches the
  // filter to one AF_PACKET socket per interface (or one unbound socket) and maps the ring and
  // the counters. Throws std::runtime_error naming the cause: the missing capability, the
  // missing kernel feature, an unknown interface, an invalid ring size, or the verifier's log.
  static std::unique_ptr<RingbufSource> Open(const LiveCaptureConfig& config);

  ~RingbufSource() override;
  RingbufSource(const RingbufSource&) = delete;
  RingbufSource& operator=(const RingbufSource&) = delete;

  // Returns the next segment. Chunked payloads (segments over 64 KiB) come back as one segment;
  // a segment the kernel could not copy in full has payload_wire_len > payload.size().
  // After Stop(): detaches the filter, returns what is still in the ring (the shutdown drain,
  // without waiting), then kEndOfInput.
  // Lifetime: segment->payload points into the ring or an internal buffer until the next call.
  CaptureStatus Next(TcpSegment* segment) override;

  void Stop() override;

  // Plaintext and socket owners are handed to `sink` from inside Next().
  void SetTlsPlaintextSink(TlsPlaintextSink* sink) override;
  // True while the TLS probes are attached to at least one library.
  bool CapturesTlsPlaintext() const override;

  // "live: eBPF ring buffer on all interfaces" or "... on lo, eth0", then "; " and what the
  // TLS probes attached (TlsProbes::Describe) or why there are none.
  std::string Describe() const override;

  // Group "capture": the kernel's counters summed over CPUs ("kernel_*", loss causes
  // "kernel_ringbuf_full", "kernel_truncated", "kernel_load_failed") and the reader's own
  // ("records", "bytes", "segments", ...).
  void VisitStats(StatsVisitor& visitor) const override;

 private:
  struct Impl;
  explicit RingbufSource(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mailtap
