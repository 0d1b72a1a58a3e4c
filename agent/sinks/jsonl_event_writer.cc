#include "sinks/jsonl_event_writer.h"

#include <utility>

#include "sinks/event_json.h"

namespace mailtap {

JsonlEventWriter::JsonlEventWriter(std::string path, size_t buffer_bytes)
    : out_(std::move(path), buffer_bytes) {}

void JsonlEventWriter::OnEvent(const Event& event) {
  line_.clear();
  AppendEventJson(event, &line_);
  line_.push_back('\n');
  out_.Append(line_);
  events_written_.Add();
}

void JsonlEventWriter::Flush() { out_.Flush(); }

bool JsonlEventWriter::Reopen() { return out_.Reopen(); }

void JsonlEventWriter::VisitStats(StatsVisitor& v) const {
  v.Visit("events_jsonl", "events_written", events_written_.Get(),
          "Events formatted for the --events output.");
  v.Visit("events_jsonl", "bytes_written", out_.bytes_written(),
          "Bytes written to the --events output.");
  v.Visit("events_jsonl", "write_errors", out_.write_errors(),
          "Failed writes to the --events output.");
  v.Visit("events_jsonl", "bytes_dropped", out_.bytes_dropped(),
          "Bytes of --events output lost to write errors.", StatKind::kCounter,
          "events_output_error");
  v.Visit("events_jsonl", "reopen_failures", out_.reopen_failures(),
          "Failed reopens of the --events file (SIGHUP).");
}

}  // namespace mailtap
