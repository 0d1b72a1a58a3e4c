// The capture engine contract: one interface in front of live capture (eBPF ring buffer),
// file replay (libpcap) and test fakes.
#pragma once

#include <functional>
#include <string>

#include "mailtap/packet.h"
#include "mailtap/stats.h"
#include "mailtap/tls_plaintext.h"

namespace mailtap {

enum class CaptureStatus {
  kSegment,     // *segment was filled
  kTimeout,     // nothing arrived within the source's poll interval; call again
  kEndOfInput,  // file fully read, or the source was stopped; do not call again
};

class CaptureSource : public StatsSource {
 public:
  // Returns the next TCP segment whose source or destination port is one of the configured SMTP
  // ports. Non-TCP, malformed and filtered packets are counted (VisitStats) and skipped.
  // REQUIRES: not called again after kEndOfInput.
  // Lifetime: segment->payload is valid until the next call.
  // Never throws: read errors mid-stream are counted, logged and end the input.
  virtual CaptureStatus Next(TcpSegment* segment) = 0;

  // Asks a blocking Next() to return kEndOfInput soon. Safe to call from a signal-handling
  // thread. File sources may ignore it (they end by themselves).
  virtual void Stop() {}

  // Where TLS plaintext and socket owners go (live capture with TLS uprobes only; other sources
  // have none and ignore this). The sink is called only from inside Next(). `sink` must outlive
  // the source's use of it; nullptr detaches.
  virtual void SetTlsPlaintextSink(TlsPlaintextSink* /*sink*/) {}
  // Whether TLS plaintext can arrive at all: the TLS probes are attached to at least one library
  // of a mail-server process. False for replays and with --tls-plaintext off. Without it, the
  // pipeline does not wait for plaintext after STARTTLS (analysis stops there, as Zeek's does).
  // May change while running (libraries attached later); read on the pipeline thread.
  virtual bool CapturesTlsPlaintext() const { return false; }

  // `hook` runs on the pipeline's thread whenever Next() has waited a while in the middle of
  // reading its input (a pipe whose writer stopped mid-packet), so that outputs and status need
  // not wait for the rest; nullptr removes it. Sources that never wait mid-read ignore it.
  virtual void SetInputWaitHook(std::function<void()> hook) { (void)hook; }

  // Human-readable description, e.g. "pcap file smtp.pcap" or "live: eBPF ring buffer on all
  // interfaces". Shown by `mailtap status`, which asks for it on the query server's thread:
  // must be safe to call concurrently with Next().
  virtual std::string Describe() const = 0;
};

}  // namespace mailtap
