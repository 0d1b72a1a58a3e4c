// One SMTP analyzer per TCP connection, behaviour-compatible with Zeek's (spec sections 2-18):
// line splitting per direction, roles (TURN), the outstanding-command queue, the state machine,
// DATA and BDAT messages with their top-level MIME headers, STARTTLS, AUTH, content gaps and
// DPD disabling. Events go to an EventSink.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/uid.h"
#include "mailtap/events.h"
#include "mailtap/sink.h"
#include "mailtap/stats.h"
#include "mailtap/stream_consumer.h"
#include "smtp/bdat.h"
#include "smtp/line_splitter.h"
#include "smtp/message_analysis.h"
#include "smtp/protocol.h"
#include "smtp/state_machine.h"

namespace mailtap {

// Bounds and thresholds of one session. Defaults are Zeek's.
struct SmtpLimits {
  size_t max_line_length = smtp::LineSplitter::kDefaultMaxLineLength;
  size_t bdat_max_line_length = 4096;                      // SMTP::bdat_max_line_length
  size_t max_header_bytes = mime::kDefaultMaxHeaderBytes;  // MIME::max_header_bytes
  size_t max_mime_depth = mime::kDefaultMaxDepth;          // MIME::max_depth
  size_t max_pending_commands = 1000;                      // hard-coded in Zeek's SMTP.cc
  uint64_t dpd_ignore_violations_after = 10240;            // DPD::ignore_violations_after
  uint64_t max_analyzer_violations = 1000;                 // max_analyzer_violations
};

// Counters of all sessions of one factory. Written by the pipeline thread only.
struct SmtpCounters {
  Counter sessions_created;
  std::atomic<int64_t> sessions_active{0};
  Counter requests;
  Counter replies;
  Counter data_lines;
  Counter unexpected;
  Counter weirds;
  Counter content_gaps;
  Counter messages;
  Counter bdat_chunks;
  Counter starttls;
  Counter tls_plaintext_sessions;          // sessions analysed on plaintext from inside TLS
  Counter implicit_tls_without_plaintext;  // implicit-TLS sessions that never got any
  Counter disabled_dpd;
  Counter disabled_script;
  Counter lines_truncated;        // contentline_size_exceeded
  Counter lines_cut_by_budget;    // cut early: all partial lines together hit the memory budget
  Counter pending_cmd_overflows;  // smtp_excessive_pending_cmds
};

// The outstanding-command queue: a vector read from a moving head. Unlike std::deque, an empty
// queue allocates nothing (most sessions never pipeline, and libstdc++'s deque allocates half
// a kilobyte up front), and storage consumed at the head is reused.
class CommandQueue {
 public:
  bool empty() const { return head_ == items_.size(); }
  size_t size() const { return items_.size() - head_; }
  smtp::Command front() const { return items_[head_]; }
  void pop_front() {
    if (++head_ == items_.size()) clear();
  }
  void push_back(smtp::Command cmd) {
    // A queue that never drains still stays within twice its length.
    if (head_ > 0 && head_ >= items_.size() / 2) {
      items_.erase(items_.begin(), items_.begin() + static_cast<ptrdiff_t>(head_));
      head_ = 0;
    }
    items_.push_back(cmd);
  }
  void clear() {
    items_.clear();
    head_ = 0;
  }

 private:
  std::vector<smtp::Command> items_;
  size_t head_ = 0;
};

class SmtpSession;

// One of the frequent events, built in place by whichever session emits one: its argument
// strings keep their capacity, so a steady stream of them allocates nothing, and there is one
// per analyzer rather than one per session (thousands of sessions wait out the close delay).
// It is in use only while a session dispatches it, synchronously; an emission nested in that
// dispatch (no sink does this today) is given a private event instead of overwriting it.
class ReusableEvent {
 public:
  class Lease {
   public:
    explicit Lease(ReusableEvent& shared) : shared_(shared.in_use_ ? nullptr : &shared) {
      if (shared_ != nullptr) shared_->in_use_ = true;
    }
    ~Lease() {
      if (shared_ != nullptr) shared_->in_use_ = false;
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Event& event() {
      if (shared_ != nullptr) return shared_->event_;
      if (!own_) own_.emplace();
      return *own_;
    }

   private:
    ReusableEvent* shared_;
    std::optional<Event> own_;
  };

 private:
  Event event_;
  bool in_use_ = false;
};

// State shared by a factory and its sessions; whichever is destroyed last frees it.
// Pipeline thread only.
struct SmtpShared {
  explicit SmtpShared(size_t line_budget_bytes = 256 << 20, size_t mime_data_bytes = 64 << 20)
      : line_budget(line_budget_bytes), mime_data_budget(mime_data_bytes) {}
  SmtpCounters counters;
  smtp::LineMemoryBudget line_budget;     // shared by every session's line splitters
  mime::MimeDataBudget mime_data_budget;  // shared by every session's MIME messages
  ReusableEvent request_event;
  ReusableEvent reply_event;
  ReusableEvent data_event;
  ReusableEvent header_event;
  mime::MimeCounters mime;
  // Files of the messages' MIME entities (set by the factory); fuids come from
  // files.file_ids, or else from own_file_ids (deterministic, for tests).
  smtp::FileAnalysis files;
  UidGenerator own_file_ids{0x6d61696c74617046};
  // Analyses a connection's wire bytes once they are TLS (ssl.log); null = not analysed.
  StreamConsumerFactory* tls_wire = nullptr;
};

// How a session's connection uses TLS.
enum class SessionTls : uint8_t {
  kStartTls,  // cleartext SMTP, possibly upgraded by STARTTLS (ports 25, 587)
  kImplicit,  // TLS from the first byte (port 465, RFC 8314): only the plaintext is SMTP
};

// Why an analyzer was switched off.
enum class DisableReason : uint8_t { kDpd, kScript };

class SmtpSession : public StreamConsumer,
                    private smtp::BdatChunkListener,
                    private smtp::MessageOutput {
 public:
  // `conn` and `sink` must outlive the session. Acts on conn.analyzer_requests after each event
  // it raises.
  SmtpSession(const Connection& conn, const SmtpLimits& limits, EventSink& sink,
              std::shared_ptr<SmtpShared> shared, SessionTls tls = SessionTls::kStartTls);
  ~SmtpSession() override;
  SmtpSession(const SmtpSession&) = delete;
  SmtpSession& operator=(const SmtpSession&) = delete;

  void Deliver(Side side, Timestamp ts, std::span<const uint8_t> data) override;
  void Undelivered(Side side, Timestamp ts, uint64_t seq, uint64_t len) override;
  void EndOfStream(Side side, Timestamp ts) override;
  void Finish(Timestamp ts) override;
  // Plaintext from inside TLS (session_tls.cc): accepted after the 220 reply to STARTTLS, and on
  // an implicit-TLS connection from the start. The first plaintext byte restarts the line
  // splitters; from then on the wire bytes (ciphertext) are no longer parsed.
  bool AcceptsTlsPlaintext() const override;
  void DeliverTlsPlaintext(Side side, Timestamp ts, std::span<const uint8_t> data,
                           uint64_t missing) override;
  std::string_view StateName() const override { return smtp::StateName(state_); }
  // Once both streams have ended (which closed any open message), or the analyzer was disabled,
  // Finish() would only report the removal: a stand-in that does just that replaces the session.
  std::unique_ptr<StreamConsumer> Retire() override;

  // Zeek's disable_analyzer: an open message is closed, then no more events. When called while
  // the session is processing input (e.g. asked by an event handler through
  // Connection::analyzer_requests), it takes effect once the current Deliver/Undelivered/... call
  // returns, so the rest of that input is still analysed.
  void RequestDisable(DisableReason reason);
  bool disabled() const { return disabled_; }
  smtp::State state() const { return state_; }

 private:
  // Routes one direction's splitter output to the session.
  class SideLines : public smtp::LineSplitterListener {
   public:
    SideLines(SmtpSession& session, Side side) : session_(session), side_(side) {}
    void OnLine(std::string_view line) override { session_.HandleLine(side_, line); }
    void OnPlain(std::span<const uint8_t> bytes) override { session_.HandleChunkBytes(bytes); }
    void OnAnomaly(smtp::SplitterAnomaly anomaly) override { session_.HandleAnomaly(anomaly); }

   private:
    SmtpSession& session_;
    Side side_;
  };
  class CallScope;

  // Lines (session.cc).
  void HandleLine(Side side, std::string_view line);  // a line from a splitter: no CR, no LF
  void HandleUnsplitLine(Side side, std::string_view line);
  void SenderLine(Side side, std::string_view line);
  void CommandLine(std::string_view line);
  void DataLine(Side side, std::string_view line);
  void ReceiverLine(Side side, std::string_view line);
  void NewReply(int code);
  void Violation();
  void Enqueue(smtp::Command cmd);
  void RunMachine(std::optional<smtp::Command> cmd, int code);
  void Perform(smtp::Action action);
  void HandleAnomaly(smtp::SplitterAnomaly anomaly);
  smtp::LineSplitter& SenderSplitter();

  // Messages, BDAT, TLS (session_message.cc).
  void HandleBdat(std::string_view arg);
  void HandleChunkBytes(std::span<const uint8_t> bytes);
  void BeginData(smtp::State state);
  void EndData();
  void CloseBdat();
  void FinishMessage();
  void StartTls();
  void EnterPlaintext();
  void AttachTlsWire();
  void ContentGap(Side side, uint64_t seq, uint64_t len);
  void FeedLines(Side side, std::span<const uint8_t> data);
  void DoDisable(DisableReason reason);
  void OnChunkLine(std::string_view line, smtp::ChunkLineEnd end) override;
  void OnChunkWeird(std::string_view name, std::string_view addl) override;

  // Events (session_events.cc).
  // Marks `event` as from inside TLS when the session reads plaintext, hands it to the sink, then
  // acts on what the sinks asked (Connection::analyzer_requests).
  void Dispatch(Event& event);
  void Dispatch(Event&& event) { Dispatch(event); }
  // Raises an event without arguments.
  void Announce(EventId id) override;
  // Readies a leased reusable event (SmtpShared) for the current event.
  Event& Reuse(ReusableEvent::Lease& lease, EventId id);
  void Request(std::string_view command, std::string_view arg);
  void Reply(Side side, int code, std::string_view cmd, std::string_view msg, bool cont);
  void Data(Side side, std::string_view data);
  void FeedSenderLines(smtp::LineSplitter& lines, std::span<const uint8_t> data);
  void Header(std::string_view original_name, std::string_view value) override;
  // The rest of MessageOutput.
  bool WantsEvent(EventId id) const override { return sink_.Wants(id); }
  Timestamp Now() const override { return ts_; }
  bool InsideTls() const override { return plaintext_; }
  void DispatchEvent(Event&& event) override { Dispatch(event); }
  void RaiseWeird(std::string_view name, std::string_view addl, std::string_view source) override {
    Weird(name, addl, source);
  }
  // Which role Zeek's per-call is_sender flag names; is_orig follows from the current roles.
  enum class Role : uint8_t { kSender, kReceiver };
  void Unexpected(Role role, std::string_view msg, std::string_view detail);
  void Weird(std::string_view name, std::string_view addl, std::string_view source);

  const Connection& conn_;
  const SmtpLimits limits_;
  EventSink& sink_;
  std::shared_ptr<SmtpShared> shared_;
  SmtpCounters& counters_;

  SideLines orig_listener_{*this, Side::kOriginator};
  SideLines resp_listener_{*this, Side::kResponder};
  smtp::LineSplitter orig_lines_;
  smtp::LineSplitter resp_lines_;

  // Whether anything wants smtp_data (as Zeek raises it only with a handler): message lines are
  // most of the events, and building and dispatching them most of the analyzer's cost.
  const bool raise_data_;
  smtp::State state_ = smtp::State::kConnected;
  bool orig_is_sender_ = true;
  // The outstanding-command queue (spec 7): the command the next reply answers, then the rest.
  std::optional<smtp::Command> first_cmd_;
  CommandQueue pending_;
  std::optional<smtp::Command> last_replied_;
  std::optional<int> pending_reply_;  // code of an unfinished multi-line reply

  smtp::MessageAnalysis message_;                  // the DATA/BDAT message, when open
  std::unique_ptr<smtp::BdatChunkSplitter> bdat_;  // open BDAT transfer

  bool tls_ = false;  // STARTTLS accepted: the splitters are gone
  // Once the wire bytes are TLS, their analyzer (SmtpShared::tls_wire): the handshake, ssl.log.
  std::unique_ptr<StreamConsumer> tls_wire_;
  const bool implicit_tls_;
  // Analysing the plaintext from inside TLS: the splitters take it, not the wire bytes.
  bool plaintext_ = false;
  uint64_t plaintext_offset_[2] = {0, 0};  // bytes of each direction's plaintext stream so far
  bool had_gap_ = false;
  bool single_cr_reported_ = false;
  bool nul_reported_ = false;
  bool orig_ended_ = false;
  bool resp_ended_ = false;
  uint64_t bytes_seen_ = 0;
  uint64_t violations_ = 0;

  Timestamp ts_;
  int call_depth_ = 0;
  bool disabled_ = false;
  std::optional<DisableReason> pending_disable_;
};

}  // namespace mailtap
