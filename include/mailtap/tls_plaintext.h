// What the TLS uprobes (bpf/) hand to the pipeline: plaintext that a local process read or wrote
// through its TLS library, already tied in the kernel to the TCP connection it travelled on, and
// the local process that owns a connection's socket. Standard library only.
//
// The live capture source delivers these beside TCP segments. They arrive on a different path
// (their own ring buffer), so they are not ordered with the segments: the receiving side orders
// them per connection (see TlsPlaintextSink).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "mailtap/packet.h"

namespace mailtap {

// What the local process did with the bytes.
enum class TlsOp : uint8_t { kRead = 0, kWrite = 1 };

// Which TLS library the bytes came through.
enum class TlsLibrary : uint8_t { kOpenSsl = 0, kGnuTls = 1 };

// The local process behind a socket, as the kernel saw it at the socket layer.
struct ProcessInfo {
  uint32_t pid = 0;         // thread-group id (what `ps` calls the PID), in the host's namespace
  std::string_view comm;    // the kernel's task name (at most 15 bytes), e.g. "smtpd"
  uint64_t cgroup_id = 0;   // cgroup v2 id of the task (maps to a container/pod), 0 if unknown
};

// One TLS library call's plaintext.
// Lifetime: `data` and `process.comm` are valid only during the sink call that receives them.
struct TlsPlaintext {
  Timestamp ts;  // same clock as TcpSegment::ts
  // The connection, as seen from the local socket.
  IpAddress local_h;
  uint16_t local_p = 0;
  IpAddress remote_h;
  uint16_t remote_p = 0;
  TlsOp op = TlsOp::kRead;
  TlsLibrary library = TlsLibrary::kOpenSsl;
  ProcessInfo process;
  // The bytes captured: the first data.size() bytes of what the call returned or wrote.
  std::span<const uint8_t> data;
  // What the call returned or wrote in all; larger than data.size() when the record was truncated
  // in the kernel. The receiving side reports the rest as a content gap, never silently.
  uint32_t len = 0;
};

// A connection's socket and its owner, reported when the kernel first sees the socket established
// (accept or connect), for plain and TLS connections alike.
struct SocketOwner {
  Timestamp ts;
  IpAddress local_h;
  uint16_t local_p = 0;
  IpAddress remote_h;
  uint16_t remote_p = 0;
  ProcessInfo process;
};

// Receives what the TLS and socket probes report. Implemented by the pipeline; called by the live
// capture source only from inside CaptureSource::Next(), on the pipeline thread.
class TlsPlaintextSink {
 public:
  virtual ~TlsPlaintextSink() = default;
  virtual void OnTlsPlaintext(const TlsPlaintext& plaintext) = 0;
  virtual void OnSocketOwner(const SocketOwner& owner) = 0;
};

}  // namespace mailtap
