#include "sinks/files_log_writer.h"

#include <utility>

namespace mailtap {
namespace {

// Zeek's column order: Files::Info in base/frameworks/files/main.zeek, then the columns the
// hash analyzers (base/files/hash) and the extract analyzer (base/files/extract) add.
void BuildRecord(const FileRecord& r, FilesLogColumns columns, LogLineBuilder& b) {
  b.Time("ts", r.ts);
  b.String("fuid", r.fuid);
  b.String("uid", r.uid);
  b.ConnIdColumns(r.id);
  b.String("source", r.source);
  b.Count("depth", r.depth);
  b.StringSet("analyzers", r.analyzers);
  b.String("mime_type", r.mime_type);
  b.String("filename", r.filename);
  b.Interval("duration", Timestamp{r.duration_usec});
  b.Bool("local_orig", r.local_orig);
  b.Bool("is_orig", r.is_orig);
  b.Count("seen_bytes", r.seen_bytes);
  b.Count("total_bytes", r.total_bytes);
  b.Count("missing_bytes", r.missing_bytes);
  b.Count("overflow_bytes", r.overflow_bytes);
  b.Bool("timedout", r.timedout);
  b.String("parent_fuid", r.parent_fuid);
  if (columns.hashes) {
    b.String("md5", r.md5);
    b.String("sha1", r.sha1);
    b.String("sha256", r.sha256);
  }
  if (columns.extraction) {
    b.String("extracted", r.extracted);
    b.Bool("extracted_cutoff", r.extracted_cutoff);
    b.Count("extracted_size", r.extracted_size);
  }
}

}  // namespace

LogSchema FilesLogSchema(FilesLogColumns columns) {
  LogSchema schema{"files",
                   {"ts",         "fuid",        "uid",           "id.orig_h",      "id.orig_p",
                    "id.resp_h",  "id.resp_p",   "source",        "depth",          "analyzers",
                    "mime_type",  "filename",    "duration",      "local_orig",     "is_orig",
                    "seen_bytes", "total_bytes", "missing_bytes", "overflow_bytes", "timedout",
                    "parent_fuid"},
                   {"time",   "string", "string",      "addr",   "port",   "addr",     "port",
                    "string", "count",  "set[string]", "string", "string", "interval", "bool",
                    "bool",   "count",  "count",       "count",  "count",  "bool",     "string"}};
  if (columns.hashes) {
    schema.fields.insert(schema.fields.end(), {"md5", "sha1", "sha256"});
    schema.types.insert(schema.types.end(), {"string", "string", "string"});
  }
  if (columns.extraction) {
    schema.fields.insert(schema.fields.end(), {"extracted", "extracted_cutoff", "extracted_size"});
    schema.types.insert(schema.types.end(), {"string", "bool", "count"});
  }
  return schema;
}

std::string FormatFileRecord(const FileRecord& record, FilesLogColumns columns, LogFormat format,
                             const LogLimits& limits) {
  LogLineBuilder b(format, limits);
  BuildRecord(record, columns, b);
  return b.Finish();
}

FilesLogWriter::FilesLogWriter(const std::string& dir, FilesLogWriterOptions options)
    : RecordLogWriter(dir, FilesLogSchema(options.columns), options), columns_(options.columns) {}

void FilesLogWriter::OnFileRecord(const FileRecord& record) {
  log().Write([&](LogLineBuilder& b) { BuildRecord(record, columns_, b); });
}

void FilesLogWriter::VisitStats(StatsVisitor& v) const {
  log().VisitStats(v, "files_log_file", "files.log", "files_log_output_error");
}

}  // namespace mailtap
