#include "sinks/jsonl_event_writer.h"

#include <utility>

#include "sinks/event_json.h"

namespace mailtap {

JsonlEventWriter::JsonlEventWriter(std::string path, size_t buffer_bytes, OpenMode mode)
    : out_(std::move(path), buffer_bytes, mode) {}

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
  out_.VisitStats(v, "events_jsonl", "the --events output", "events_output_error");
}

}  // namespace mailtap
