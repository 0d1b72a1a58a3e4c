#include "tls/ssl_analyzer.h"

#include <string>
#include <vector>

#include "mailtap/events.h"
#include "tls/certificate.h"
#include "tls/tls_names.h"

namespace mailtap {
namespace {

using tls::Role;

// Certificates fingerprinted per side; a chain is a handful, more is noise or hostile.
constexpr size_t kMaxChainLength = 100;

class SslAnalyzer : public StreamConsumer, private tls::HandshakeListener {
 public:
  SslAnalyzer(const Connection& conn, tls::HandshakeLimits limits, EventSink& weirds,
              SslRecordSink& records, std::shared_ptr<SslCounters> counters)
      : conn_(conn),
        weirds_(weirds),
        records_(records),
        counters_(std::move(counters)),
        parser_(limits, *this) {
    counters_->sessions.Add();
  }
  ~SslAnalyzer() override { CountParser(); }

  // The client of an SMTP connection is its originator (STARTTLS, RFC 3207).
  void Deliver(Side side, Timestamp ts, std::span<const uint8_t> data) override {
    if (parser_.stopped()) return;
    ts_ = ts;
    parser_.Feed(RoleOf(side), ts, data);
    if (parser_.summary().seen) conn_.analysis.ssl = true;  // conn.log's service "ssl"
    if (parser_.stopped() && !parser_.summary().established && !gap_) {
      counters_->stopped_not_tls.Add();
    }
  }
  void Undelivered(Side side, Timestamp ts, uint64_t, uint64_t len) override {
    if (parser_.stopped() || len == 0) return;
    ts_ = ts;
    gap_ = true;
    counters_->stopped_by_gap.Add();
    parser_.Gap(RoleOf(side));
  }
  void EndOfStream(Side, Timestamp) override {}
  void Finish(Timestamp) override { Log(); }

 private:
  static Role RoleOf(Side side) { return IsOrig(side) ? Role::kClient : Role::kServer; }

  void OnWeird(std::string_view name, std::string_view addl) override {
    weirds_.OnEvent(MakeWeird(ts_, &conn_, name, std::string(addl), "SSL"));
  }
  void OnCertificate(Role role, std::span<const uint8_t> der) override {
    std::vector<std::string>& fps = role == Role::kClient ? client_fps_ : server_fps_;
    if (role == Role::kServer && !first_server_cert_) {
      first_server_cert_.emplace(der.begin(), der.end());
    }
    if (fps.size() >= kMaxChainLength) {
      counters_->fingerprints_dropped.Add();
      return;
    }
    if (auto fp = tls::CertificateFingerprint(der)) fps.push_back(std::move(*fp));
  }
  // Zeek logs the session as soon as it is established.
  void OnEstablished() override {
    counters_->established.Add();
    Log();
  }

  void Log();
  void CountParser();

  const Connection& conn_;
  EventSink& weirds_;
  SslRecordSink& records_;
  std::shared_ptr<SslCounters> counters_;
  tls::HandshakeParser parser_;
  Timestamp ts_;
  bool gap_ = false;
  bool logged_ = false;
  std::vector<std::string> server_fps_;
  std::vector<std::string> client_fps_;
  std::optional<std::vector<uint8_t>> first_server_cert_;
};

template <typename T, typename Fn>
std::optional<std::string> NameOf(const std::optional<T>& code, Fn name) {
  if (!code) return std::nullopt;
  return name(*code);
}

void SslAnalyzer::Log() {
  const tls::HandshakeSummary& s = parser_.summary();
  if (logged_ || !s.seen) return;
  logged_ = true;
  SslRecord r;
  r.ts = s.first_seen;
  r.uid = conn_.uid;
  r.id = conn_.id;
  r.community_id = conn_.community_id;
  r.version = NameOf(s.version, tls::VersionName);
  r.cipher = NameOf(s.cipher, tls::CipherName);
  r.curve = NameOf(s.curve, tls::CurveName);
  r.server_name = s.server_name;
  r.resumed = s.resumed;
  r.last_alert = NameOf(s.last_alert, tls::AlertName);
  r.next_protocol = s.next_protocol;
  r.established = s.established;
  r.ssl_history = s.history;
  if (s.certificates_seen) {
    r.cert_chain_fps = server_fps_;
    r.client_cert_chain_fps = client_fps_;
  }
  // files.zeek: only when the server's first certificate parsed and the client sent a name.
  if (first_server_cert_ && s.server_name && tls::CertificateFingerprint(*first_server_cert_)) {
    r.sni_matches_cert = tls::CertificateMatchesHost(*first_server_cert_, *s.server_name);
  }
  counters_->records_logged.Add();
  records_.OnSslRecord(r);
}

void SslAnalyzer::CountParser() {
  const tls::HandshakeCounters& c = parser_.counters();
  counters_->tls_records.Add(c.records);
  counters_->handshake_messages.Add(c.messages);
  counters_->messages_too_long.Add(c.messages_too_long);
  counters_->malformed_messages.Add(c.malformed_messages);
}

}  // namespace

SslAnalyzerFactory::SslAnalyzerFactory(tls::HandshakeLimits limits, EventSink& weirds,
                                       SslRecordSink& records)
    : limits_(limits),
      weirds_(weirds),
      records_(records),
      counters_(std::make_shared<SslCounters>()) {}

SslAnalyzerFactory::~SslAnalyzerFactory() = default;

std::unique_ptr<StreamConsumer> SslAnalyzerFactory::Create(const Connection& conn) {
  return std::make_unique<SslAnalyzer>(conn, limits_, weirds_, records_, counters_);
}

void SslAnalyzerFactory::VisitStats(StatsVisitor& v) const {
  const SslCounters& c = *counters_;
  const char* g = "ssl";
  v.Visit(g, "sessions", c.sessions.Get(), "Connections whose wire bytes went to the TLS parser.");
  v.Visit(g, "records_logged", c.records_logged.Get(), "ssl.log records written.");
  v.Visit(g, "established", c.established.Get(), "TLS sessions seen established.");
  v.Visit(g, "stopped_by_gap", c.stopped_by_gap.Get(),
          "TLS sessions no longer parsed after a content gap (as Zeek).");
  v.Visit(g, "stopped_not_tls", c.stopped_not_tls.Get(),
          "TLS sessions no longer parsed at bytes that are not TLS records.");
  v.Visit(g, "tls_records", c.tls_records.Get(), "TLS records parsed (finished sessions).");
  v.Visit(g, "handshake_messages", c.handshake_messages.Get(),
          "Handshake messages parsed (finished sessions).");
  v.Visit(g, "messages_too_long", c.messages_too_long.Get(),
          "Handshake messages skipped for their length (SSL_handshake_message_too_long).");
  v.Visit(g, "malformed_messages", c.malformed_messages.Get(),
          "Hello or Certificate messages that did not parse (SSL_malformed_handshake_message).");
  v.Visit(g, "fingerprints_dropped", c.fingerprints_dropped.Get(),
          "Certificates past 100 of one side, not fingerprinted.");
}

}  // namespace mailtap
