// Turns the records of the TLS ring (struct mailtap_tls_rec, bpf_tls_abi.h) back into one
// TlsPlaintext per TLS library call and one SocketOwner per socket, and hands them to a sink.
// Pure: no libbpf, no kernel; the live source feeds it the ring's records.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "mailtap/bpf_tls_abi.h"
#include "mailtap/stats.h"
#include "mailtap/tls_plaintext.h"

namespace mailtap {

class TlsRecordAssembler : public StatsSource {
 public:
  // Converts the kernel's CLOCK_BOOTTIME nanoseconds to the segments' Timestamp clock.
  using ClockFn = std::function<Timestamp(uint64_t boot_ns)>;

  // `ncpus`: the possible CPUs (records name their CPU; others are malformed).
  TlsRecordAssembler(size_t ncpus, ClockFn clock);

  // Takes one ring record. Calls `sink` (which may be nullptr: then the result is only counted)
  // when a call's last chunk or a socket owner arrives. A call whose chunks stop without a LAST
  // (cannot happen: one CPU emits them consecutively) is delivered when the next FIRST of that
  // CPU arrives, with data.size() < len.
  // Lifetime: `record` only during the call.
  void Accept(std::span<const uint8_t> record, TlsPlaintextSink* sink);

  // Group "tls": what the reader did ("ring_records", "plaintexts", "plaintext_bytes",
  // "socket_owners", "plaintexts_incomplete", and the malformed-input causes).
  void VisitStats(StatsVisitor& visitor) const override;

 private:
  struct Partial {
    bool active = false;
    mailtap_tls_rec hdr{};
    std::vector<uint8_t> bytes;  // at most MAILTAP_TLS_MAX_COPY
  };
  void AcceptPlaintext(const mailtap_tls_rec& h, std::span<const uint8_t> data,
                       TlsPlaintextSink* sink);
  void Deliver(const mailtap_tls_rec& h, std::span<const uint8_t> data, TlsPlaintextSink* sink);
  void DeliverOwner(const mailtap_tls_rec& h, TlsPlaintextSink* sink);

  std::vector<Partial> partials_;  // per CPU
  ClockFn clock_;
  Counter records_, plaintexts_, plaintext_bytes_, incomplete_, owners_;
  Counter bad_records_, orphan_chunks_;
};

}  // namespace mailtap
