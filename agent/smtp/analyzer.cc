#include "smtp/analyzer.h"

namespace mailtap {

namespace {

SmtpLimits LimitsFrom(const SmtpConfig& config) {
  SmtpLimits limits;
  limits.max_line_length = config.max_line_length;
  limits.bdat_max_line_length = config.bdat_max_line_length;
  limits.max_header_bytes = config.max_header_bytes;
  limits.max_mime_depth = config.max_mime_depth;
  limits.max_pending_commands = config.max_pending_commands;
  limits.dpd_ignore_violations_after = config.dpd_ignore_violations_after;
  return limits;
}

}  // namespace

SmtpAnalyzerFactory::SmtpAnalyzerFactory(SmtpConfig config, EventSink& sink)
    : config_(std::move(config)),
      limits_(LimitsFrom(config_)),
      sink_(sink),
      shared_(std::make_shared<SmtpShared>(config_.max_total_line_bytes,
                                           config_.max_total_mime_data_bytes)) {
  shared_->files.rfc822_messages = config_.rfc822_msg_file_analysis;
}

SmtpAnalyzerFactory::~SmtpAnalyzerFactory() = default;

std::unique_ptr<StreamConsumer> SmtpAnalyzerFactory::Create(const Connection& conn) {
  if (!config_.ports.Contains(conn.id.resp_p)) return nullptr;
  const SessionTls tls =
      config_.tls_ports.Contains(conn.id.resp_p) ? SessionTls::kImplicit : SessionTls::kStartTls;
  return std::make_unique<SmtpSession>(conn, limits_, sink_, shared_, tls);
}

void SmtpAnalyzerFactory::VisitMimeStats(StatsVisitor& v) const {
  const mime::MimeCounters& m = shared_->mime;
  constexpr std::string_view g = "smtp";
  v.Visit(g, "mime_entities", m.entities.Get(), "MIME entities begun (mime_begin_entity).");
  v.Visit(g, "mime_depth_exceeded", m.depth_exceeded.Get(),
          "Child entities not created at MIME::max_depth (exceeded_mime_max_depth).",
          StatKind::kCounter, Loss{"mime_max_depth", LossUnit::kEntities});
  v.Visit(g, "mime_boundaries_too_long", m.boundaries_too_long.Get(),
          "Multipart boundaries longer than 1024 bytes, ignored (the part is opaque).",
          StatKind::kCounter, Loss{"mime_boundary_too_long", LossUnit::kEntities});
  v.Visit(g, "mime_kept_headers_dropped", m.kept_headers_dropped.Get(),
          "Headers left out of mime_all_headers beyond 256 KiB per entity (not a loss: every "
          "header was analysed and raised as mime_one_header).");
  v.Visit(g, "mime_entity_data_truncated", m.entity_data_truncated.Get(),
          "mime_entity_data events whose data was cut at 1 MiB (not a loss: file analysis and the "
          "content hashes have every byte).");
  v.Visit(g, "mime_all_data_truncated", m.all_data_truncated.Get(),
          "mime_all_data events whose data was cut at 4 MiB (not a loss: file analysis and the "
          "content hashes have every byte).");
  v.Visit(g, "mime_data_flushed_early", m.data_flushed_early.Get(),
          "mime_entity_data / mime_all_data events raised before their entity or message ended "
          "because all sessions' held data reached the MIME data memory budget, the largest "
          "holders first (not a loss: the next event of the entity or message carries the rest).");
  v.Visit(g, "mime_data_buffer_bytes", shared_->mime_data_budget.used(),
          "Bytes held for mime_entity_data / mime_all_data by all sessions.", StatKind::kGauge);
  v.Visit(g, "mime_base64_problems", m.base64_problems.Get(),
          "Broken base64 bodies reported (base64_illegal_encoding).");
  v.Visit(g, "mime_quoted_printable_problems", m.quoted_printable_problems.Get(),
          "Bad quoted-printable escapes or control characters, kept as sent.");
  v.Visit(g, "mime_format_problems", m.format_problems.Get(),
          "Malformed MIME structure (Zeek's mime_event \"illegal format\").");
}

void SmtpAnalyzerFactory::VisitStats(StatsVisitor& v) const {
  const SmtpCounters& c = shared_->counters;
  constexpr std::string_view g = "smtp";
  v.Visit(g, "sessions_created", c.sessions_created.Get(), "SMTP analyzers attached.");
  const int64_t active = c.sessions_active.load(std::memory_order_relaxed);
  v.Visit(g, "sessions_active", active > 0 ? static_cast<uint64_t>(active) : 0,
          "SMTP analyzers alive now.", StatKind::kGauge);
  v.Visit(g, "requests", c.requests.Get(), "smtp_request events.");
  v.Visit(g, "replies", c.replies.Get(), "smtp_reply events.");
  v.Visit(g, "data_lines", c.data_lines.Get(),
          "Message lines (smtp_data events; raised only when an output wants them).");
  v.Visit(g, "unexpected", c.unexpected.Get(), "smtp_unexpected events.");
  v.Visit(g, "weirds", c.weirds.Get(), "Weirds raised by the SMTP analyzer.");
  v.Visit(g, "content_gaps", c.content_gaps.Get(), "Content gaps reported to SMTP analyzers.");
  v.Visit(g, "messages", c.messages.Get(), "DATA/BDAT messages started.");
  v.Visit(g, "bdat_chunks", c.bdat_chunks.Get(), "Valid BDAT chunks announced.");
  v.Visit(g, "starttls", c.starttls.Get(), "Sessions handed over to TLS.");
  v.Visit(g, "tls_plaintext_sessions", c.tls_plaintext_sessions.Get(),
          "Sessions analysed on the plaintext from inside TLS (after STARTTLS, or implicit TLS).");
  v.Visit(g, "implicit_tls_without_plaintext", c.implicit_tls_without_plaintext.Get(),
          "Implicit-TLS sessions (--tls-ports) that ended without any plaintext: no SMTP events.");
  v.Visit(g, "analyzers_disabled_dpd", c.disabled_dpd.Get(),
          "Analyzers disabled by DPD (reply code out of range early in a session).");
  v.Visit(g, "analyzers_disabled_script", c.disabled_script.Get(),
          "Analyzers disabled by the smtp.log logic.");
  v.Visit(g, "lines_truncated", c.lines_truncated.Get(),
          "Lines cut at the maximum line length (contentline_size_exceeded).", StatKind::kCounter,
          Loss{"smtp_line_too_long", LossUnit::kLines});
  v.Visit(g, "header_lines_dropped", shared_->mime.header_lines_dropped.Get(),
          "Folded header lines dropped at MIME::max_header_bytes.", StatKind::kCounter,
          Loss{"mime_header_too_long", LossUnit::kLines});
  VisitMimeStats(v);
  v.Visit(g, "lines_cut_by_memory_budget", c.lines_cut_by_budget.Get(),
          "Lines cut early because all sessions' partial lines together reached the line memory "
          "budget.",
          StatKind::kCounter, Loss{"smtp_line_memory_budget", LossUnit::kLines});
  v.Visit(g, "line_buffer_bytes", shared_->line_budget.used(),
          "Bytes held in partial lines by all sessions.", StatKind::kGauge);
  v.Visit(g, "pending_cmd_overflows", c.pending_cmd_overflows.Get(),
          "Outstanding-command queue overflows (smtp_excessive_pending_cmds).");
}

}  // namespace mailtap
