// The data flow of mailtapd, one thread: capture source -> flow table + reassembler -> SMTP
// analyzer -> event bus -> sinks (JSON lines, smtp.log, query server).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <vector>

#include "common/event_bus.h"
#include "common/event_fanout.h"
#include "common/heartbeat.h"
#include "common/uid.h"
#include "config.h"
#include "mailtap/capture_source.h"
#include "mailtap/connections.h"
#include "mailtap/stats.h"

namespace mailtap {

class FlowTable;
class FileAnalyzer;
class FileExtractor;
class SmtpAnalyzerFactory;
class SslAnalyzerFactory;
class SmtpTransactionLog;
class ConnAnalysisObserver;
class TlsPlaintextRouter;
class Redactor;
class RecordRedactor;
class SelectedEvents;
class FuidRecorder;
class FileSink;
class SmtpTrafficCounters;

// Fans smtp.log records out to several record sinks.
class RecordFanout : public RecordSink {
 public:
  void Add(RecordSink* sink) { sinks_.push_back(sink); }
  void OnRecord(const SmtpRecord& record) override {
    for (RecordSink* sink : sinks_) sink->OnRecord(record);
  }
  void Flush() override {
    for (RecordSink* sink : sinks_) sink->Flush();
  }

 private:
  std::vector<RecordSink*> sinks_;
};

class Pipeline {
 public:
  // Opens the outputs named in `config` (--events, --log-dir). Throws std::runtime_error with a
  // precise message when one cannot be opened (start-up only).
  explicit Pipeline(const Config& config);
  ~Pipeline();
  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  // Extra outputs (the query server). Events reach them after redaction. Must outlive Run().
  void AddEventSink(EventSink* sink);
  void AddRecordSink(RecordSink* sink);
  // File analysis: receives the files of the messages' MIME entities (null = none; smtp.log's
  // fuids are filled either way). Must outlive Run().
  void SetFileSink(FileSink* files);

  // Reads `source` until it ends its input, then finishes every connection and flushes all
  // outputs. Never throws for anything the network can cause. TLS plaintext the source reports
  // (its TlsPlaintextSink) joins the connections' SMTP analysis while Run() lasts.
  void Run(CaptureSource& source);

  // Safe to call from another thread (the signal thread). To stop, stop the source: Run()
  // returns once the source has ended its input.
  void RequestReopen() { reopen_requested_.store(true); }
  // Reopens the outputs now, logging it. Only while Run() is not running (after a replay, with
  // --keep-serving): the caller is then the only user of the outputs.
  void ReopenNow() { ReopenOutputs(); }
  // Gives the output files to the user the agent is about to become (before Run()).
  void HandOutputsTo(uid_t uid, gid_t gid);
  // Whether a file output (--events, the logs) dropped records on a failed write. After Run():
  // everything but a zeek log's closing line has been written by then.
  bool LostOutput() const;

  // For readers on other threads: statistics refreshed a few times per second while running,
  // connections when a reader asks (within one poll interval of the live source).
  const StatsSnapshot& stats() const { return stats_snapshot_; }
  const ConnectionsSnapshot& connections() const { return connections_snapshot_; }
  // When the pipeline thread last made progress (status and metrics show a stall).
  const Heartbeat& heartbeat() const { return heartbeat_; }

  // Where the MIME analyzer hands the files it cuts out of messages (files.log, file events,
  // extraction). Lives as long as the pipeline.
  FileAnalyzer& file_analyzer() { return *file_analyzer_; }

 private:
  void ProcessSegment(const TcpSegment& segment);
  void Housekeeping(Timestamp now, bool source_idle);
  // SIGHUP's reopen, and a connections snapshot a query asked for.
  void AnswerRequests();
  // Flushes the outputs and publishes the statistics now.
  void Publish();
  // The source has waited mid-read for a while (CaptureSource::SetInputWaitHook).
  void WhileInputWaits();
  void ReopenOutputs();
  void FlushRecords();

  Config config_;
  UidGenerator uids_;
  EventBus bus_;                // the analyzer and the flow table publish here
  EventFanout outputs_fanout_;  // redacted events for the outputs (which publish none: no queue)
  RecordFanout records_;
  std::unique_ptr<Redactor> redactor_;
  std::unique_ptr<RecordRedactor> record_redactor_;
  std::unique_ptr<SelectedEvents> selected_events_;  // --events-include, in front of --events
  std::unique_ptr<SmtpTransactionLog> transaction_log_;
  std::unique_ptr<ConnAnalysisObserver> conn_analysis_;  // conn.log's service and 'X' marks
  std::unique_ptr<FuidRecorder> fuid_recorder_;          // in front of SetFileSink's sink
  // Declared before the analyzers that feed it, so that it outlives them.
  std::unique_ptr<FileExtractor> extractor_;  // null unless --extract
  std::unique_ptr<FileAnalyzer> file_analyzer_;
  std::unique_ptr<SmtpTrafficCounters> smtp_counters_;  // commands, reply classes, transactions
  std::unique_ptr<SmtpAnalyzerFactory> analyzers_;
  std::unique_ptr<SslAnalyzerFactory> ssl_analyzers_;  // TLS on the wire, for ssl.log
  std::unique_ptr<FlowTable> flows_;
  std::unique_ptr<TlsPlaintextRouter> tls_router_;
  class Outputs;
  std::unique_ptr<Outputs> outputs_;

  std::vector<const StatsSource*> stats_sources_;
  StatsSnapshot stats_snapshot_;
  ConnectionsSnapshot connections_snapshot_;
  Heartbeat heartbeat_;

  Timestamp last_packet_time_{};
  Timestamp last_expiry_{};
  uint64_t segments_since_check_ = 0;
  std::chrono::steady_clock::time_point last_publish_{};
  std::atomic<bool> reopen_requested_{false};
};

}  // namespace mailtap
