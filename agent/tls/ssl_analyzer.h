// ssl.log from the wire: the TLS handshake of a connection whose bytes became TLS (after the 220
// reply to STARTTLS, or from the first byte on an implicit-TLS port), as Zeek's SSL analyzer
// attached below its SMTP analyzer sees it. The SMTP session hands over the wire bytes; this
// parses them (HandshakeParser), raises its weirds on the event sink, and writes one record when
// the session is established or, failing that, when the connection is removed.
#pragma once

#include <memory>

#include "mailtap/sink.h"
#include "mailtap/stats.h"
#include "mailtap/stream_consumer.h"
#include "tls/handshake_parser.h"
#include "tls/ssl_log.h"

namespace mailtap {

struct SslCounters {
  Counter sessions;
  Counter records_logged;
  Counter established;
  Counter stopped_by_gap;
  Counter stopped_not_tls;
  Counter tls_records;
  Counter handshake_messages;
  Counter messages_too_long;
  Counter malformed_messages;
  Counter fingerprints_dropped;  // certificates past kMaxChainLength of one side
};

class SslAnalyzerFactory : public StreamConsumerFactory, public StatsSource {
 public:
  // `weirds` (the event bus) and `records` must outlive the analyzers.
  SslAnalyzerFactory(tls::HandshakeLimits limits, EventSink& weirds, SslRecordSink& records);
  ~SslAnalyzerFactory() override;

  // An analyzer for the TLS bytes of `conn` (any connection: the caller decides).
  std::unique_ptr<StreamConsumer> Create(const Connection& conn) override;

  void VisitStats(StatsVisitor& visitor) const override;  // group "ssl"

 private:
  tls::HandshakeLimits limits_;
  EventSink& weirds_;
  SslRecordSink& records_;
  std::shared_ptr<SslCounters> counters_;  // shared with analyzers that may outlive the factory
};

}  // namespace mailtap
