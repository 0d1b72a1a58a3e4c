#include "pipeline.h"

#include <algorithm>
#include <ctime>

#include "common/event_selection.h"
#include "common/log.h"
#include "files/file_analyzer.h"
#include "sinks/conn_log_writer.h"
#include "sinks/files_log_writer.h"
#include "sinks/jsonl_event_writer.h"
#include "sinks/redactor.h"
#include "sinks/smtp_log_writer.h"
#include "sinks/smtp_traffic_counters.h"
#include "sinks/ssl_log_writer.h"
#include "sinks/weird_log_writer.h"
#include "smtp/analyzer.h"
#include "smtp/transaction.h"
#include "tcp/flow_table.h"
#include "tls/plaintext_router.h"
#include "tls/ssl_analyzer.h"

namespace mailtap {
namespace {

// How often the flow table looks for idle connections, in packet time.
constexpr Timestamp kExpiryInterval{1'000'000};
// How often snapshots for the query server are refreshed, in wall-clock time.
constexpr auto kPublishInterval = std::chrono::milliseconds(250);
// Reading the clock per packet would cost more than the rest of the loop: check every N.
constexpr uint64_t kSegmentsPerClockCheck = 1024;

// uids unique across runs and agents (a SIEM fed by several agents, or by several replays, must
// not see two connections under one uid), unless --uid-seed asks for reproducible output.
uint64_t UidSeed(const Config& config) { return config.uid_seed.value_or(RandomUidSeed()); }

// Message content in --events is the operator's explicit choice; the start-up log says so.
void LogContentSelection(const Config& config) {
  const std::string content = config.events_include.ContentNames();
  if (content.empty()) return;
  Log(Severity::kInfo, "--events {} carries message content ({}), as --events-include asks",
      *config.events_path == "-" ? "(standard output)" : *config.events_path, content);
}

Timestamp WallClockNow() {
  auto now = std::chrono::system_clock::now().time_since_epoch();
  return Timestamp{std::chrono::duration_cast<std::chrono::microseconds>(now).count()};
}

// Where ssl.log records go without --log-dir.
class NoSslRecords : public SslRecordSink {
 public:
  void OnSslRecord(const SslRecord&) override {}
};

// Where files.log records go without --log-dir.
class NoFileRecords : public FileRecordSink {
 public:
  void OnFileRecord(const FileRecord&) override {}
};

}  // namespace

// The file outputs named on the command line.
class Pipeline::Outputs {
 public:
  // `weirds` receives the log writers' own weirds (truncated fields).
  Outputs(const Config& config, EventSink* weirds) {
    // A replay writes fresh outputs, as `zeek -r` does; the live agent continues them.
    const bool replay = config.read_file.has_value();
    if (config.events_path) {
      events_ = std::make_unique<JsonlEventWriter>(
          *config.events_path, 64 * 1024, replay ? OpenMode::kTruncate : OpenMode::kAppend);
    }
    const LogStart start = replay ? LogStart::kFresh : LogStart::kContinue;
    if (config.log_dir) OpenZeekLogs(config, start, weirds);
  }
  void OpenZeekLogs(const Config& config, LogStart start, EventSink* weirds) {
    RecordLogOptions log;
    log.format = config.log_format;
    log.limits = config.tunables.log_limits;
    log.start = start;
    const std::string& dir = *config.log_dir;
    smtp_log_ = std::make_unique<SmtpLogWriter>(dir, SmtpLogWriterOptions{log, weirds});
    WeirdLogWriterOptions weird_options;
    weird_options.start = start;
    weird_options.format = config.log_format;
    weird_log_ = std::make_unique<WeirdLogWriter>(dir, weird_options);
    ssl_log_ = std::make_unique<SslLogWriter>(dir, log);
    conn_log_ = std::make_unique<ConnLogWriter>(dir, log);
    const FilesLogColumns columns{.hashes = config.file_hashes,
                                  .extraction = config.extract.what != ExtractWhat::kNone};
    files_log_ = std::make_unique<FilesLogWriter>(dir, FilesLogWriterOptions{log, columns});
  }
  // A failed reopen is counted and logged by the writer and retried at the next SIGHUP.
  void Reopen() {
    if (events_) events_->Reopen();
    if (smtp_log_) smtp_log_->Reopen();
    if (weird_log_) weird_log_->Reopen();
    if (ssl_log_) ssl_log_->Reopen();
    if (conn_log_) conn_log_->Reopen();
    if (files_log_) files_log_->Reopen();
  }
  void HandTo(uid_t uid, gid_t gid) {
    if (events_) events_->output().HandTo(uid, gid);
    if (smtp_log_) smtp_log_->output().HandTo(uid, gid);
    if (weird_log_) weird_log_->output().HandTo(uid, gid);
    if (ssl_log_) ssl_log_->output().HandTo(uid, gid);
    if (conn_log_) conn_log_->output().HandTo(uid, gid);
    if (files_log_) files_log_->output().HandTo(uid, gid);
  }
  // Whether any output dropped bytes on a failed write (each said so on stderr when it began).
  bool LostOutput() {
    const auto lost = [](const FileOutput& out) { return out.bytes_dropped() > 0; };
    return (events_ && lost(events_->output())) || (smtp_log_ && lost(smtp_log_->output())) ||
           (weird_log_ && lost(weird_log_->output())) || (conn_log_ && lost(conn_log_->output())) ||
           (files_log_ && lost(files_log_->output()));
  }
  JsonlEventWriter* events() { return events_.get(); }
  SmtpLogWriter* smtp_log() { return smtp_log_.get(); }
  WeirdLogWriter* weird_log() { return weird_log_.get(); }
  SslLogWriter* ssl_log() { return ssl_log_.get(); }
  ConnLogWriter* conn_log() { return conn_log_.get(); }
  SslRecordSink& ssl_records() {
    if (ssl_log_) return *ssl_log_;
    return no_ssl_records_;
  }
  FilesLogWriter* files_log() { return files_log_.get(); }
  FileRecordSink& file_records() {
    if (files_log_) return *files_log_;
    return no_file_records_;
  }

 private:
  std::unique_ptr<JsonlEventWriter> events_;
  std::unique_ptr<SmtpLogWriter> smtp_log_;
  std::unique_ptr<WeirdLogWriter> weird_log_;
  std::unique_ptr<SslLogWriter> ssl_log_;
  std::unique_ptr<ConnLogWriter> conn_log_;
  NoSslRecords no_ssl_records_;
  std::unique_ptr<FilesLogWriter> files_log_;
  NoFileRecords no_file_records_;
};

// The stages, in the order events flow (README, "How it works"): the analyzer publishes into the
// bus; the bus hands each event to the redactor (then every event output) and then to the
// smtp.log logic. What the smtp.log logic and the smtp.log writer raise (weirds) goes on to the
// redactor directly, after the event that caused it: nothing flows back into the bus. The one
// path upstream is the smtp.log logic asking a connection's analyzer to stop
// (Connection::analyzer_requests), which the analyzer reads after each event it raised.
Pipeline::Pipeline(const Config& config) : config_(config), uids_(UidSeed(config)) {
  redactor_ = std::make_unique<Redactor>(config.redact, outputs_fanout_);
  outputs_ = std::make_unique<Outputs>(config, redactor_.get());
  record_redactor_ = std::make_unique<RecordRedactor>(config.redact, records_);
  if (outputs_->events()) {
    selected_events_ = std::make_unique<SelectedEvents>(config.events_include, *outputs_->events());
    outputs_fanout_.Add(selected_events_.get());
    LogContentSelection(config);
  }
  if (outputs_->weird_log()) outputs_fanout_.Add(outputs_->weird_log());
  if (outputs_->smtp_log()) records_.Add(outputs_->smtp_log());

  // File analysis (files.log, file events, extraction): what the MIME analyzer cuts out of
  // messages reaches it through the FileSink seam (file_analyzer()).
  if (config.extract.what != ExtractWhat::kNone) {
    extractor_ = std::make_unique<FileExtractor>(config.extract);
  }
  FileAnalysisConfig file_config;
  file_config.hashes = config.file_hashes;
  file_config.redact_filenames = config.redact == RedactMode::kData;
  file_analyzer_ =
      std::make_unique<FileAnalyzer>(file_config, bus_, outputs_->file_records(), extractor_.get());

  SmtpConfig smtp_config = config.tunables.smtp;
  smtp_config.ports = config.ports;
  smtp_config.tls_ports = config.tls_ports;
  smtp_config.max_total_line_bytes = config.memory.Of(Budget::kLines);
  smtp_config.max_total_mime_data_bytes = config.memory.Of(Budget::kMimeData);
  analyzers_ = std::make_unique<SmtpAnalyzerFactory>(smtp_config, bus_);
  ssl_analyzers_ =
      std::make_unique<SslAnalyzerFactory>(tls::HandshakeLimits{}, bus_, outputs_->ssl_records());
  analyzers_->SetTlsWireAnalyzers(ssl_analyzers_.get());
  transaction_log_ = std::make_unique<SmtpTransactionLog>(
      SmtpLogConfigFor(config.tunables, config.memory), *redactor_, *record_redactor_);
  // smtp.log is built from the unredacted events (it holds no credentials; with --redact data its
  // records are redacted on the way out); every event output sees redacted events. The redactor
  // comes first so that an event reaches the outputs before the weirds it causes.
  bus_.AddSink(redactor_.get());
  bus_.AddSink(transaction_log_.get());
  conn_analysis_ = std::make_unique<ConnAnalysisObserver>();
  bus_.AddSink(conn_analysis_.get());
  fuid_recorder_ = std::make_unique<FuidRecorder>(*transaction_log_);
  analyzers_->SetFileAnalysis(fuid_recorder_.get(), &uids_);
  fuid_recorder_->SetDownstream(file_analyzer_.get());
  smtp_counters_ = std::make_unique<SmtpTrafficCounters>();
  bus_.AddSink(smtp_counters_.get());
  records_.Add(smtp_counters_.get());

  FlowTableConfig flow_config;
  flow_config.service_ports = config.ports;
  flow_config.max_flows = config.memory.max_flows;
  flow_config.max_buffered_bytes_total = config.memory.Of(Budget::kReassembly);
  flow_config.max_retained_bytes_total = config.memory.Of(Budget::kRetained);
  flow_config.community_id_seed = config.community_id_seed;
  flows_ = std::make_unique<FlowTable>(flow_config, *analyzers_, uids_, &bus_);
  flows_->SetConnRecordSink(outputs_->conn_log());
  TlsJoinConfig tls_config;
  tls_config.max_held_bytes_total = config.memory.Of(Budget::kTlsHold);
  tls_router_ = std::make_unique<TlsPlaintextRouter>(tls_config, *flows_, bus_);
  bus_.AddSink(tls_router_.get());
  bus_.AddSink(file_analyzer_.get());  // for connection removals: it ends what is still open

  stats_sources_ = {flows_.get(),      analyzers_.get(),       ssl_analyzers_.get(),
                    tls_router_.get(), transaction_log_.get(), smtp_counters_.get()};
  if (outputs_->events()) stats_sources_.push_back(outputs_->events());
  if (outputs_->smtp_log()) stats_sources_.push_back(outputs_->smtp_log());
  if (outputs_->weird_log()) stats_sources_.push_back(outputs_->weird_log());
  if (outputs_->ssl_log()) stats_sources_.push_back(outputs_->ssl_log());
  if (outputs_->conn_log()) stats_sources_.push_back(outputs_->conn_log());
  stats_sources_.push_back(file_analyzer_.get());
  if (extractor_) stats_sources_.push_back(extractor_.get());
  if (outputs_->files_log()) stats_sources_.push_back(outputs_->files_log());
}

Pipeline::~Pipeline() = default;

void Pipeline::AddEventSink(EventSink* sink) { outputs_fanout_.Add(sink); }
void Pipeline::SetFileSink(FileSink* files) { fuid_recorder_->SetDownstream(files); }

void Pipeline::AddRecordSink(RecordSink* sink) { records_.Add(sink); }

void Pipeline::Run(CaptureSource& source) {
  stats_sources_.insert(stats_sources_.begin(), &source);
  source.SetTlsPlaintextSink(tls_router_.get());
  // Between segments, so safe: a pipe that stops mid-packet leaves outputs and status current.
  source.SetInputWaitHook([this] { WhileInputWaits(); });
  tls_router_->SetCaptureActive(source.CapturesTlsPlaintext());
  TcpSegment segment;
  while (true) {
    heartbeat_.Waiting();
    CaptureStatus status = source.Next(&segment);
    heartbeat_.Working();
    if (status == CaptureStatus::kEndOfInput) break;
    if (status == CaptureStatus::kSegment) {
      ProcessSegment(segment);
    } else {
      // The source went quiet. Live, time still passes for idle connections; a replay from a
      // pipe has only packet time, which stands still until the next packet.
      Timestamp now =
          config_.read_file ? last_packet_time_ : std::max(last_packet_time_, WallClockNow());
      tls_router_->SetCaptureActive(source.CapturesTlsPlaintext());  // probes may attach later
      Housekeeping(now, /*source_idle=*/true);
    }
  }
  flows_->FinishAll(last_packet_time_);
  source.SetInputWaitHook(nullptr);
  source.SetTlsPlaintextSink(nullptr);
  FlushRecords();
  stats_snapshot_.Publish(CollectStats(stats_sources_));
  connections_snapshot_.PublishFinal(flows_->Summaries());
  heartbeat_.Waiting();  // done: idle from here on, not stuck
}

void Pipeline::ProcessSegment(const TcpSegment& segment) {
  if (segment.ts > last_packet_time_) last_packet_time_ = segment.ts;
  flows_->Process(segment);
  tls_router_->AfterSegment(segment);
  if (++segments_since_check_ >= kSegmentsPerClockCheck) {
    segments_since_check_ = 0;
    Housekeeping(last_packet_time_, /*source_idle=*/false);
  }
}

void Pipeline::Housekeeping(Timestamp now, bool source_idle) {
  if (source_idle || HasElapsed(last_expiry_, now, kExpiryInterval)) {
    flows_->ExpireIdle(now);
    last_expiry_ = now;
  }
  tls_router_->Expire(now);
  AnswerRequests();
  // On a wall-clock cadence, idle or not: a live source goes idle at every poll (50 ms) in which
  // it drains the ring buffer, and flushing outputs and collecting statistics 100 times a second
  // costs the busy agent more than the freshness is worth.
  if (std::chrono::steady_clock::now() - last_publish_ >= kPublishInterval) Publish();
}

void Pipeline::AnswerRequests() {
  if (reopen_requested_.exchange(false)) ReopenOutputs();
  if (connections_snapshot_.requested()) connections_snapshot_.Publish(flows_->Summaries());
}

void Pipeline::Publish() {
  last_publish_ = std::chrono::steady_clock::now();
  FlushRecords();
  stats_snapshot_.Publish(CollectStats(stats_sources_));
}

void Pipeline::WhileInputWaits() {
  AnswerRequests();
  Publish();
}

void Pipeline::FlushRecords() {
  bus_.Flush();
  records_.Flush();
  outputs_->ssl_records().Flush();
  if (outputs_->conn_log()) outputs_->conn_log()->Flush();
  outputs_->file_records().Flush();
}

void Pipeline::HandOutputsTo(uid_t uid, gid_t gid) { outputs_->HandTo(uid, gid); }

bool Pipeline::LostOutput() const { return outputs_->LostOutput(); }

void Pipeline::ReopenOutputs() {
  Log(Severity::kInfo, "SIGHUP: reopening output files");
  outputs_->Reopen();
}

}  // namespace mailtap
