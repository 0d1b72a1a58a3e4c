// Test doubles for the tcp component: a StreamConsumer that writes every call down as a short
// line, a factory handing them out, a weird collector and a stats reader.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mailtap/packet.h"
#include "mailtap/sink.h"
#include "mailtap/stats.h"
#include "mailtap/stream_consumer.h"

namespace mailtap::testing {

// Calls are recorded as "D<side>:<bytes>", "U<side>:<seq>+<len>", "E<side>", "F", where side is
// o (originator) or r (responder); "R" when it retired (handing over a stand-in recording into
// the same log) and "~" when it is destroyed. Consecutive Deliver calls are not merged, so a test
// can see how the bytes were cut; Stream(side) concatenates them.
class RecordingConsumer : public StreamConsumer {
 public:
  // `all` (nullable) additionally receives every entry prefixed with "<id> ", to check the order
  // of calls across connections.
  explicit RecordingConsumer(std::vector<std::string>* log, std::vector<std::string>* all = nullptr,
                             size_t id = 0, bool retire = false)
      : log_(log), all_(all), id_(id), retire_(retire) {}
  ~RecordingConsumer() override { Record("~"); }

  void Deliver(Side side, Timestamp /*ts*/, std::span<const uint8_t> data) override {
    Record(std::string("D") + Tag(side) + ":" +
           std::string(reinterpret_cast<const char*>(data.data()), data.size()));
  }
  void Undelivered(Side side, Timestamp /*ts*/, uint64_t seq, uint64_t len) override {
    Record(std::string("U") + Tag(side) + ":" + std::to_string(seq) + "+" + std::to_string(len));
  }
  void EndOfStream(Side side, Timestamp /*ts*/) override { Record(std::string("E") + Tag(side)); }
  void Finish(Timestamp /*ts*/) override { Record("F"); }
  std::string_view StateName() const override { return "TESTING"; }
  std::unique_ptr<StreamConsumer> Retire() override {
    if (!retire_) return nullptr;
    Record("R");
    return std::make_unique<RecordingConsumer>(log_, all_, id_);
  }

  static char Tag(Side side) { return side == Side::kOriginator ? 'o' : 'r'; }

 private:
  void Record(std::string entry) {
    if (all_ != nullptr) all_->push_back(std::to_string(id_) + " " + entry);
    log_->push_back(std::move(entry));
  }

  std::vector<std::string>* log_;
  std::vector<std::string>* all_;
  size_t id_;
  bool retire_;
};

// Everything delivered for `side` in `log`, gaps shown as "[gap seq+len]".
inline std::string Stream(const std::vector<std::string>& log, Side side) {
  std::string out;
  char tag = RecordingConsumer::Tag(side);
  for (const std::string& entry : log) {
    if (entry.size() < 3 || entry[1] != tag) continue;
    if (entry[0] == 'D') out += entry.substr(3);
    if (entry[0] == 'U') out += "[gap " + entry.substr(3) + "]";
  }
  return out;
}

// Hands out a RecordingConsumer per connection; each connection's calls go to its own log, in
// creation order (logs[0] is the first connection's). Connections whose responder port is
// `skip_port` get no consumer.
class RecordingFactory : public StreamConsumerFactory {
 public:
  std::unique_ptr<StreamConsumer> Create(const Connection& conn) override {
    conns.push_back(&conn);
    partial_at_create.push_back(conn.partial);
    logs.emplace_back();
    if (conn.id.resp_p == skip_port) return nullptr;
    return std::make_unique<RecordingConsumer>(&logs.back(), &all, logs.size() - 1, retire);
  }

  std::deque<std::vector<std::string>> logs;  // deque: stable addresses
  std::vector<std::string> all;               // every connection's calls, in call order
  std::vector<const Connection*> conns;       // valid only while the connection exists
  std::vector<bool> partial_at_create;
  uint16_t skip_port = 0;
  bool retire = false;  // consumers hand over a stand-in when their connection closes
};

// Collects weird names.
class WeirdRecorder : public EventSink {
 public:
  void OnEvent(const Event& event) override {
    names.push_back(Get(event, ev::weird::name) + "/" + Get(event, ev::weird::source) +
                    (event.conn != nullptr ? "/conn" : "/no-conn"));
  }
  std::vector<std::string> names;
};

// Reads a component's statistics into a map keyed by name.
class StatsReader : public StatsVisitor {
 public:
  void Visit(std::string_view /*group*/, std::string_view name, uint64_t value,
             std::string_view /*help*/, StatKind kind, Loss loss) override {
    values[std::string(name)] = value;
    kinds[std::string(name)] = kind;
    if (!loss.cause.empty()) causes[std::string(name)] = std::string(loss.cause);
  }
  std::map<std::string, uint64_t> values;
  std::map<std::string, StatKind> kinds;
  std::map<std::string, std::string> causes;
};

}  // namespace mailtap::testing
