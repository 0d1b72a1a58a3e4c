#include "capture/tls_record_assembler.h"

#include <cstring>
#include <string_view>
#include <utility>

namespace mailtap {
namespace {

// Addresses as the pipeline keys connections: an AF_INET6 socket that carries IPv4 reports
// ::ffff:a.b.c.d, which IpAddress already stores IPv4 as, so both compare equal to the segments'.
IpAddress Address(uint8_t family, const uint8_t (&raw)[16]) {
  if (family == 4) return IpAddress::FromV4(std::span<const uint8_t, 4>(raw, 4));
  return IpAddress::FromV6(std::span<const uint8_t, 16>(raw, 16));
}

std::string_view Comm(const mailtap_tls_rec& h) {
  return std::string_view(h.comm, strnlen(h.comm, sizeof h.comm));
}

ProcessInfo Process(const mailtap_tls_rec& h) { return ProcessInfo{h.pid, Comm(h), h.cgroup_id}; }

bool WellFormed(const mailtap_tls_rec& h, size_t payload_room, size_t ncpus) {
  if (h.chunk_len > payload_room || h.cpu >= ncpus) return false;
  if (h.family != 4 && h.family != 6) return false;
  if (h.kind == MAILTAP_TLS_KIND_OWNER) return true;
  return h.kind == MAILTAP_TLS_KIND_PLAINTEXT && h.op <= MAILTAP_TLS_OP_WRITE &&
         h.library <= MAILTAP_TLS_LIB_GNUTLS && h.offset <= h.len &&
         h.chunk_len <= h.len - h.offset;
}

}  // namespace

TlsRecordAssembler::TlsRecordAssembler(size_t ncpus, ClockFn clock)
    : partials_(ncpus), clock_(std::move(clock)) {}

void TlsRecordAssembler::Accept(std::span<const uint8_t> record, TlsPlaintextSink* sink) {
  records_.Add();
  mailtap_tls_rec h;
  if (record.size() < sizeof h) {
    bad_records_.Add();
    return;
  }
  std::memcpy(&h, record.data(), sizeof h);
  if (!WellFormed(h, record.size() - sizeof h, partials_.size())) {
    bad_records_.Add();
    return;
  }
  if (h.kind == MAILTAP_TLS_KIND_OWNER) {
    DeliverOwner(h, sink);
    return;
  }
  AcceptPlaintext(h, record.subspan(sizeof h, h.chunk_len), sink);
}

// Chunk protocol (bpf_tls_abi.h): FIRST starts a call, LAST ends it; chunks of one call come
// from one CPU, in order, with the same call_id. Most calls are a single FIRST|LAST record,
// delivered straight from the ring without a copy.
void TlsRecordAssembler::AcceptPlaintext(const mailtap_tls_rec& h, std::span<const uint8_t> data,
                                         TlsPlaintextSink* sink) {
  Partial& p = partials_[h.cpu];
  if (h.rec_flags & MAILTAP_TLS_REC_FIRST) {
    if (p.active) {
      p.active = false;
      Deliver(p.hdr, p.bytes, sink);
    }
    if (h.rec_flags & MAILTAP_TLS_REC_LAST) {
      Deliver(h, data, sink);
      return;
    }
    p.active = true;
    p.hdr = h;
    p.bytes.assign(data.begin(), data.end());
    return;
  }
  if (!p.active || p.hdr.call_id != h.call_id || h.offset != p.bytes.size() ||
      p.bytes.size() + data.size() > MAILTAP_TLS_MAX_COPY) {
    orphan_chunks_.Add();
    return;
  }
  p.bytes.insert(p.bytes.end(), data.begin(), data.end());
  if ((h.rec_flags & MAILTAP_TLS_REC_LAST) == 0) return;
  p.active = false;
  Deliver(p.hdr, p.bytes, sink);
}

void TlsRecordAssembler::Deliver(const mailtap_tls_rec& h, std::span<const uint8_t> data,
                                 TlsPlaintextSink* sink) {
  plaintexts_.Add();
  plaintext_bytes_.Add(data.size());
  if (data.size() < h.len) incomplete_.Add();
  if (sink == nullptr) return;
  TlsPlaintext p;
  p.ts = clock_(h.ts_ns);
  p.local_h = Address(h.family, h.laddr);
  p.local_p = h.lport;
  p.remote_h = Address(h.family, h.raddr);
  p.remote_p = h.rport;
  p.op = h.op == MAILTAP_TLS_OP_WRITE ? TlsOp::kWrite : TlsOp::kRead;
  p.library = h.library == MAILTAP_TLS_LIB_GNUTLS ? TlsLibrary::kGnuTls : TlsLibrary::kOpenSsl;
  p.process = Process(h);
  p.data = data;
  p.len = h.len;
  sink->OnTlsPlaintext(p);
}

void TlsRecordAssembler::DeliverOwner(const mailtap_tls_rec& h, TlsPlaintextSink* sink) {
  owners_.Add();
  if (sink == nullptr) return;
  SocketOwner o;
  o.ts = clock_(h.ts_ns);
  o.local_h = Address(h.family, h.laddr);
  o.local_p = h.lport;
  o.remote_h = Address(h.family, h.raddr);
  o.remote_p = h.rport;
  o.process = Process(h);
  sink->OnSocketOwner(o);
}

void TlsRecordAssembler::VisitStats(StatsVisitor& visitor) const {
  visitor.Visit("tls", "ring_records", records_.Get(), "TLS ring records read.");
  visitor.Visit("tls", "plaintexts", plaintexts_.Get(),
                "TLS library calls whose plaintext was handed to the pipeline.");
  visitor.Visit("tls", "plaintext_bytes", plaintext_bytes_.Get(),
                "Plaintext bytes handed to the pipeline.");
  visitor.Visit("tls", "plaintexts_incomplete", incomplete_.Get(),
                "Calls handed out with fewer bytes than the call moved (the rest is a gap).");
  visitor.Visit("tls", "socket_owners", owners_.Get(),
                "Socket owners (accept/connect on an SMTP port) handed to the pipeline.");
  visitor.Visit("tls", "ring_bad_records", bad_records_.Get(),
                "Malformed TLS ring records (a kernel/userspace mismatch).", StatKind::kCounter,
                Loss{"tls_ringbuf_bad_record", LossUnit::kRingRecords});
  visitor.Visit("tls", "ring_orphan_chunks", orphan_chunks_.Get(),
                "TLS chunk records whose call's first chunk was lost.", StatKind::kCounter,
                Loss{"tls_ringbuf_orphan_chunk", LossUnit::kRingRecords});
}

}  // namespace mailtap
