// The seam between the MIME analyzer and file analysis (files.log, hashes, type sniffing,
// extraction): the MIME analyzer cuts a message into entities and hands each entity's decoded
// body over as a stream of bytes and gaps, as Zeek's MIME analyzer feeds its file manager.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "mailtap/flow.h"
#include "mailtap/packet.h"

namespace mailtap {

// What the MIME analyzer knows about a file when it begins. Everything here except `fuid`,
// `conn`, `depth` and `is_message` comes from the sender and is display-only: never a path.
struct FileInfo {
  std::string fuid;                  // "F" + base62, chosen by the MIME analyzer (Zeek's fuid)
  const Connection* conn = nullptr;  // valid until the connection's removal notice
  Timestamp ts;                      // time of the first byte of the entity
  bool is_orig = true;               // which side sent it (the client, for SMTP)
  uint64_t depth = 0;         // Zeek's files.log depth: the entity's number within the connection
  std::string filename;       // Content-Disposition filename / Content-Type name, may be empty
  std::string declared_type;  // the Content-Type the sender declared ("text/plain"), lower case
  std::string parent_fuid;    // the enclosing message/rfc822 file, empty at top level
  bool is_message = false;    // the whole message (rfc822 file analysis, .eml extraction)
  bool inside_tls = false;    // the message came from inside TLS (the TLS library's plaintext)
};

// Receives the files of every connection, on the pipeline thread, in order: BeginFile, then any
// number of FileData/FileGap, then EndFile — for each fuid, possibly interleaved across fuids
// (a message/rfc822 file encloses its parts' files).
class FileSink {
 public:
  virtual ~FileSink() = default;
  virtual void BeginFile(const FileInfo& info) = 0;
  // Decoded body bytes (after base64/quoted-printable), in order. Views valid during the call.
  virtual void FileData(std::string_view fuid, Timestamp ts, std::string_view bytes) = 0;
  // `length` bytes of the body are missing (a TCP content gap inside the entity).
  virtual void FileGap(std::string_view fuid, Timestamp ts, uint64_t length) = 0;
  // The entity ended (its boundary, the end of the message, or the connection went away).
  virtual void EndFile(std::string_view fuid, Timestamp ts) = 0;
};

}  // namespace mailtap
