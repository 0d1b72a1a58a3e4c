// The SMTP analyzer factory: attaches an SmtpSession to every connection whose responder port is
// an SMTP port and reports the "smtp" statistics.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "mailtap/port_set.h"
#include "mailtap/sink.h"
#include "mailtap/stats.h"
#include "mailtap/stream_consumer.h"
#include "smtp/session.h"

namespace mailtap {

// Defaults are Zeek's (spec section 20), declared once in SmtpLimits (session.h).
struct SmtpConfig {
  PortSet ports = PortSet::Default();  // SMTP::ports
  // Not Zeek's: of those, the ports where TLS starts with the connection (RFC 8314 implicit TLS).
  PortSet tls_ports = PortSet::DefaultTls();
  size_t max_line_length = SmtpLimits{}.max_line_length;
  size_t bdat_max_line_length = SmtpLimits{}.bdat_max_line_length;
  size_t max_header_bytes = SmtpLimits{}.max_header_bytes;
  size_t max_mime_depth = SmtpLimits{}.max_mime_depth;  // MIME::max_depth
  // SMTP::enable_rfc822_msg_file_analysis: each whole message is a file too (is_message).
  bool rfc822_msg_file_analysis = false;
  size_t max_pending_commands = SmtpLimits{}.max_pending_commands;
  uint64_t dpd_ignore_violations_after = SmtpLimits{}.dpd_ignore_violations_after;
  // Not Zeek's: partial lines of all sessions together (see LineMemoryBudget).
  size_t max_total_line_bytes = 256 << 20;
  // Not Zeek's: data held for mime_entity_data / mime_all_data by all sessions together (see
  // mime::MimeDataBudget).
  size_t max_total_mime_data_bytes = 64 << 20;
};

// Not thread-safe except VisitStats, which may run on another thread.
class SmtpAnalyzerFactory : public StreamConsumerFactory, public StatsSource {
 public:
  // `sink` receives every event of every session and must outlive them.
  SmtpAnalyzerFactory(SmtpConfig config, EventSink& sink);
  ~SmtpAnalyzerFactory() override;

  // A session when conn.id.resp_p is an SMTP port, else nullptr.
  std::unique_ptr<StreamConsumer> Create(const Connection& conn) override;

  void VisitStats(StatsVisitor& visitor) const override;

  // Sessions hand their wire bytes to an analyzer from `tls_wire` once they are TLS (after the
  // 220 reply to STARTTLS; from the start on an implicit-TLS port). May be null; must outlive
  // the sessions.
  void SetTlsWireAnalyzers(StreamConsumerFactory* tls_wire) { shared_->tls_wire = tls_wire; }

  // Sessions hand the bodies of their messages' MIME entities (and, with
  // rfc822_msg_file_analysis, the messages) to `files` as files named by fuids from `file_ids`.
  // Null `files`: no file analysis; null `file_ids`: a generator of the factory's own. Both must
  // outlive the sessions. Call before the first session is created.
  void SetFileAnalysis(FileSink* files, UidGenerator* file_ids) {
    shared_->files.sink = files;
    shared_->files.file_ids = file_ids;
  }

 private:
  void VisitMimeStats(StatsVisitor& visitor) const;

  SmtpConfig config_;
  SmtpLimits limits_;
  EventSink& sink_;
  // Shared with the sessions, which may outlive the factory during teardown.
  std::shared_ptr<SmtpShared> shared_;
};

}  // namespace mailtap
