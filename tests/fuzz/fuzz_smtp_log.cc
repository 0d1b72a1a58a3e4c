// The smtp.log logic on its own: two SMTP sessions of any client and server bytes (with gaps and
// an end at any point) through the analyzer into one SmtpTransactionLog, every record it produces
// formatted both ways: a Zeek (TSV) line has exactly one field per smtp.log column and no raw
// newline, a JSON line parses as one object with ts and uid. Cheaper per input than the whole
// pipeline of fuzz_tcp_streams, so the fuzzer reaches deeper into transactions and headers.
//
// Input: byte 0 picks the log limits, the SMTP limits and (bit 4) a pending-records budget of
// 256 bytes, small enough that the two sessions cut each other's records; then records of
// [op, length, bytes...]:
//   op & 3: 0 client bytes, 1 server bytes, 2 a gap of `length` * 97 bytes on the side op & 4
//   picks, 3 the end of that side's stream; op & 8: the second session.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>

#include "common/log.h"
#include "fuzz_support.h"
#include "mailtap/flow.h"
#include "mailtap/sink.h"
#include "sinks/smtp_log_writer.h"
#include "smtp/session.h"
#include "smtp/transaction.h"

namespace mailtap::fuzz {
namespace {

class NullEvents : public EventSink {
 public:
  void OnEvent(const Event&) override {}
};

// Formats every record both ways and checks the lines.
class CheckingRecords : public RecordSink {
 public:
  explicit CheckingRecords(LogLimits limits) : limits_(limits) {}
  void OnRecord(const SmtpRecord& record) override {
    CheckZeekLine(FormatRecordZeek(record, limits_));
    const auto json = nlohmann::json::parse(FormatRecordJson(record, limits_), nullptr, false);
    if (!json.is_object() || !json.contains("ts") || !json.contains("uid")) std::abort();
  }

 private:
  static void CheckZeekLine(const std::string& line) {
    size_t tabs = 0;
    for (char c : line) {
      if (c == '\n' || c == '\r') std::abort();
      tabs += c == '\t';
    }
    if (tabs + 1 != SmtpLogSchema().fields.size()) std::abort();
  }
  LogLimits limits_;
};

void Run(uint8_t knobs, std::span<const uint8_t> script) {
  LogLimits log_limits;
  if (knobs & 1) log_limits.max_field_string_bytes = 5;
  if (knobs & 2) log_limits.max_field_container_elements = 2;
  SmtpLogConfig log_config;
  if (knobs & 4) {
    log_config.max_rcptto_addresses = 2;
    log_config.max_to_addresses = 2;
    log_config.max_cc_addresses = 2;
    log_config.max_path_length = 2;
    log_config.max_invalid_mail_transactions = 2;
  }
  if (knobs & 16) log_config.max_pending_bytes = 256;
  SmtpLimits smtp_limits;
  if (knobs & 8) {
    smtp_limits.max_line_length = 64;
    smtp_limits.max_header_bytes = 128;
    smtp_limits.max_pending_commands = 4;
  }
  NullEvents weirds;
  CheckingRecords records(log_limits);
  SmtpTransactionLog log(log_config, weirds, records);
  Connection conns[2];
  std::unique_ptr<SmtpSession> sessions[2];
  auto shared = std::make_shared<SmtpShared>();
  for (int i = 0; i < 2; ++i) {
    conns[i].uid = i == 0 ? "Cfuzz0" : "Cfuzz1";
    IpAddress::Parse(i == 0 ? "10.0.0.1" : "10.0.0.3", &conns[i].id.orig_h);
    IpAddress::Parse("10.0.0.2", &conns[i].id.resp_h);
    conns[i].id.orig_p = static_cast<uint16_t>(40000 + i);
    conns[i].id.resp_p = 25;
    sessions[i] = std::make_unique<SmtpSession>(conns[i], smtp_limits, log, shared);
  }
  int64_t usec = 1'700'000'000'000'000;
  uint64_t seq[2][2] = {{0, 0}, {0, 0}};
  while (script.size() >= 2) {
    const uint8_t op = script[0];
    const size_t length = std::min<size_t>(script[1], script.size() - 2);
    const Side side =
        (op & 3) == 1 || ((op & 3) >= 2 && (op & 4)) ? Side::kResponder : Side::kOriginator;
    const int which = (op & 8) ? 1 : 0;
    SmtpSession& session = *sessions[which];
    uint64_t& next = seq[which][side == Side::kResponder ? 1 : 0];
    usec += 1000;
    switch (op & 3) {
      case 0:
      case 1:
        session.Deliver(side, Timestamp{usec}, script.subspan(2, length));
        next += length;
        script = script.subspan(2 + length);
        break;
      case 2:
        session.Undelivered(side, Timestamp{usec}, next, uint64_t{script[1]} * 97);
        next += uint64_t{script[1]} * 97;
        script = script.subspan(2);
        break;
      default:
        session.EndOfStream(side, Timestamp{usec});
        script = script.subspan(2);
        break;
    }
  }
  for (auto& session : sessions) session->Finish(Timestamp{usec + 1000});
  for (const Connection& conn : conns) log.OnConnectionRemoved(conn, Timestamp{usec + 2000});
}

}  // namespace
}  // namespace mailtap::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mailtap;
  fuzz::QuietLogs();
  if (size < 1) return 0;
  fuzz::Run(data[0], {data + 1, size - 1});
  return 0;
}
