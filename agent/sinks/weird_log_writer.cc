#include "sinks/weird_log_writer.h"

#include <optional>
#include <string_view>
#include <utility>

namespace mailtap {
namespace {

constexpr int64_t kUsecPerSec = 1000000;
// weird.zeek: ACTION_LOG suppresses repeats for 10 minutes; the per-connection actions remember
// the connection for a day.
constexpr int64_t kRepeatWindowUsec = 10 * 60 * kUsecPerSec;
constexpr int64_t kPerConnWindowUsec = 24 * 3600 * kUsecPerSec;

bool IsPerConnectionWeird(std::string_view name) {
  return name == "smtp_mail_transaction_invalid" ||
         name == "smtp_excessive_invalid_mail_transactions";
}

std::optional<std::string> NonEmpty(const std::string& s) {
  if (s.empty()) return std::nullopt;
  return s;
}

}  // namespace

const LogSchema& WeirdLogSchema() {
  static const LogSchema schema{"weird",
                                {"ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p",
                                 "name", "addl", "notice", "peer", "source"},
                                {"time", "string", "addr", "port", "addr", "port", "string",
                                 "string", "bool", "string", "string"}};
  return schema;
}

WeirdLogWriter::WeirdLogWriter(const std::string& dir, WeirdLogWriterOptions options)
    : max_dedup_entries_(options.max_dedup_entries),
      file_(dir, WeirdLogSchema(), options.format, std::move(options.clock), options.buffer_bytes,
            options.start) {}

void WeirdLogWriter::OnEvent(const Event& event) {
  if (event.id != EventId::kWeird) return;
  std::optional<std::string> name = NonEmpty(Get(event, ev::weird::name));
  if (!name) return;
  if (!ShouldLog(event, *name)) {
    suppressed_.Add();
    return;
  }
  Write(event, *name);
}

bool WeirdLogWriter::ShouldLog(const Event& event, const std::string& name) {
  // The key is the name plus the printed 4-tuple (not the uid), as in weird.zeek.
  std::string key = name;
  if (event.conn != nullptr) {
    const ConnId& id = event.conn->id;
    key += '|' + id.orig_h.ToString() + ':' + std::to_string(id.orig_p) + '>' +
           id.resp_h.ToString() + ':' + std::to_string(id.resp_p);
  }
  auto it = seen_until_.find(key);
  if (it != seen_until_.end() && event.ts < it->second) return false;
  if (it == seen_until_.end() && seen_until_.size() >= max_dedup_entries_) {
    std::erase_if(seen_until_, [&](const auto& kv) { return kv.second <= event.ts; });
    if (seen_until_.size() >= max_dedup_entries_) {
      table_full_.Add();
      return true;
    }
  }
  const bool per_conn = event.conn != nullptr && IsPerConnectionWeird(name);
  seen_until_[key] = Timestamp{event.ts.usec + (per_conn ? kPerConnWindowUsec : kRepeatWindowUsec)};
  return true;
}

void WeirdLogWriter::Write(const Event& event, const std::string& name) {
  LogLineBuilder b(file_.format(), LogLimits{});
  b.Time("ts", event.ts);
  const Connection* c = event.conn;
  b.String("uid", c ? std::optional<std::string>(c->uid) : std::nullopt);
  b.Addr("id.orig_h", c ? std::optional<IpAddress>(c->id.orig_h) : std::nullopt);
  if (c) {
    b.Port("id.orig_p", c->id.orig_p);
  } else {
    b.String("id.orig_p", std::nullopt);
  }
  b.Addr("id.resp_h", c ? std::optional<IpAddress>(c->id.resp_h) : std::nullopt);
  if (c) {
    b.Port("id.resp_p", c->id.resp_p);
  } else {
    b.String("id.resp_p", std::nullopt);
  }
  b.String("name", name);
  b.String("addl", NonEmpty(Get(event, ev::weird::addl)));
  b.Bool("notice", false);
  b.String("peer", std::string("zeek"));
  b.String("source", NonEmpty(Get(event, ev::weird::source)));
  file_.WriteLine(b.Finish());
  logged_.Add();
}

void WeirdLogWriter::VisitStats(StatsVisitor& v) const {
  const FileOutput& out = file_.output();
  v.Visit("weird_log", "weirds_logged", logged_.Get(), "Weirds written to weird.log.");
  v.Visit("weird_log", "weirds_suppressed", suppressed_.Get(),
          "Weirds not logged because the same weird was logged recently for the connection.");
  v.Visit("weird_log", "dedup_table_full", table_full_.Get(),
          "Weirds logged without de-duplication because its table was full.");
  out.VisitStats(v, "weird_log", "weird.log", "weird_log_output_error");
}

}  // namespace mailtap
