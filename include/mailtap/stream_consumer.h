// What the reassembler delivers: each direction's byte stream, in order, with holes made
// explicit. Modelled on Zeek's DeliverStream / Undelivered / EndpointEOF.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "mailtap/flow.h"

namespace mailtap {

class StreamConsumer {
 public:
  virtual ~StreamConsumer() = default;

  // The next contiguous bytes sent by `side`. Calls for the two sides interleave in packet
  // order. `data` is valid only during the call.
  virtual void Deliver(Side side, Timestamp ts, std::span<const uint8_t> data) = 0;

  // `len` bytes of `side`'s stream starting at `seq` will never arrive. `seq` is relative to the
  // initial sequence number, so the first payload byte is 1 (Zeek's content-gap numbering).
  virtual void Undelivered(Side side, Timestamp ts, uint64_t seq, uint64_t len) = 0;

  // `side` has finished sending: its FIN was reached with everything before it delivered, or
  // the connection was reset. Called at most once per side.
  virtual void EndOfStream(Side side, Timestamp ts) = 0;

  // The connection is being removed (closed, idle timeout, evicted, or end of capture). The last
  // call; the Connection stays valid until it returns.
  virtual void Finish(Timestamp ts) = 0;

  // Plaintext of the TLS session carried by this connection (what a local process read or wrote
  // through its TLS library, include/mailtap/tls_plaintext.h), in order per direction.
  // Whether the consumer takes it now: an SMTP session after the 220 reply to STARTTLS, or on an
  // implicit-TLS port from the start. The caller holds plaintext back until it does.
  virtual bool AcceptsTlsPlaintext() const { return false; }
  // The next plaintext bytes `side` sent; `missing` bytes after them were not captured (a
  // truncated record: a content gap). `data` is valid only during the call.
  // REQUIRES: AcceptsTlsPlaintext().
  virtual void DeliverTlsPlaintext(Side /*side*/, Timestamp /*ts*/,
                                   std::span<const uint8_t> /*data*/, uint64_t /*missing*/) {}

  // Name of the analyzer's current state (e.g. "IN_DATA"), for `mailtap connections`.
  virtual std::string_view StateName() const { return {}; }

  // Both streams have ended, so only Finish() follows, after the close delay that thousands of
  // connections wait out at a time on a busy host. A consumer may return a small stand-in whose
  // Finish() does what its own would, to be kept instead of itself (its memory is then reused by
  // new connections while still in cache); nullptr keeps this one.
  virtual std::unique_ptr<StreamConsumer> Retire() { return nullptr; }
};

// Decides which connections get an analyzer.
class StreamConsumerFactory {
 public:
  virtual ~StreamConsumerFactory() = default;
  // Returns the consumer for a new connection, or nullptr if it is not analysed (e.g. the
  // responder port is not an SMTP port). `conn` outlives the returned consumer.
  virtual std::unique_ptr<StreamConsumer> Create(const Connection& conn) = 0;
};

}  // namespace mailtap
