// THE list of events: every event the agent raises, declared once, in Zeek's names and argument
// order. Everything else -- the EventId enum, the typed argument keys and builders (events.h),
// the JSON field order, `mailtapd --list-events` and the reference in docs/events.md (checked by
// tests/common/event_schema_test.cc) -- is generated from it.
//
// MAILTAP_EVENTS(EVENT, ARG) expands EVENT(Id, name, kind, doc, args) once per event, where
// `args` is a sequence of ARG(ident, key, type, doc):
//   Id     the EventId enumerator (kSmtpRequest)
//   name   Zeek's event name, also the C++ namespace of its keys (mailtap::ev::smtp_request)
//   kind   kContent if the event carries message content (message lines, header values, entity
//          bodies: what the sender wrote rather than the protocol around it), else kProtocol.
//          Content events leave the agent only when an operator asks for them
//          (--events-include, --observe-data): private by default. When in doubt, kContent.
//   ident  the C++ name of the argument (ev::smtp_request::command)
//   key    its JSON key, Zeek's parameter name ("h.original_name" where Zeek has a record field)
//   type   kBool (bool), kCount (int64_t, Zeek's count) or kString (raw protocol bytes)
// The argument order is the order of the JSON keys and of Zeek's parameters: never reorder.
//
// Adding an event: one EVENT line here, and the code that raises it (ev::NAME::Make or the typed
// setters in events.h). Sinks that do not know it write it generically.
#pragma once

// clang-format off
#define MAILTAP_EVENTS(EVENT, ARG)                                                                 \
  EVENT(kSmtpRequest, smtp_request, kProtocol, "A command line from the SMTP client.",             \
    ARG(is_orig, "is_orig", kBool,                                                                 \
        "whether the originator sent it: the client, unless TURN swapped the roles")               \
    ARG(command, "command", kString, "the command word as sent")                                   \
    ARG(arg, "arg", kString, "the rest of the line after the command word"))                       \
  EVENT(kSmtpReply, smtp_reply, kProtocol, "One line of a server reply.",                          \
    ARG(is_orig, "is_orig", kBool, "whether the originator sent the reply")                        \
    ARG(code, "code", kCount, "the reply code")                                                    \
    ARG(cmd, "cmd", kString, "the command the reply answers (\">\" for the greeting)")             \
    ARG(msg, "msg", kString, "the text after the code")                                            \
    ARG(cont_resp, "cont_resp", kBool, "whether more lines of this reply follow"))                 \
  EVENT(kSmtpData, smtp_data, kContent,                                                            \
    "One line of a message (DATA or BDAT), without its CRLF.",                                     \
    ARG(is_orig, "is_orig", kBool, "whether the originator sent it")                               \
    ARG(data, "data", kString, "the line"))                                                        \
  EVENT(kSmtpStartTls, smtp_starttls, kProtocol,                                                   \
    "The server accepted STARTTLS: the rest is encrypted.", )                                      \
  EVENT(kSmtpUnexpected, smtp_unexpected, kProtocol, "Input that does not fit the protocol.",      \
    ARG(is_orig, "is_orig", kBool, "whether the originator sent it")                               \
    ARG(msg, "msg", kString, "what was unexpected")                                                \
    ARG(detail, "detail", kString, "the offending input"))                                         \
  EVENT(kWeird, weird, kProtocol, "A named anomaly, as in Zeek's weird.log.",                      \
    ARG(name, "name", kString, "the anomaly's stable name")                                        \
    ARG(addl, "addl", kString, "additional detail, may be empty")                                  \
    ARG(source, "source", kString,                                                                 \
        "the raising component (SMTP, CONTENTLINE, TCP...), may be empty"))                        \
  EVENT(kMimeBeginEntity, mime_begin_entity, kProtocol,                                            \
    "A MIME entity begins: a message's top level, a multipart part or an attached message.", )     \
  EVENT(kMimeOneHeader, mime_one_header, kContent, "A header of the current MIME entity.",         \
    ARG(h_original_name, "h.original_name", kString, "the header name as sent")                    \
    ARG(h_name, "h.name", kString, "the header name upper-cased")                                  \
    ARG(h_value, "h.value", kString, "the value, folded lines joined"))                            \
  EVENT(kMimeAllHeaders, mime_all_headers, kContent,                                               \
    "The headers of the current MIME entity have ended.",                                          \
    ARG(hlist, "hlist", kString,                                                                   \
        "every header as \"name: value\" + CRLF, in order (Zeek: a table of mime_header_rec)"))    \
  EVENT(kMimeEndEntity, mime_end_entity, kProtocol, "The current MIME entity ends.", )             \
  EVENT(kMimeEntityData, mime_entity_data, kContent,                                               \
    "The decoded body of the MIME entity that ends.",                                              \
    ARG(length, "length", kCount, "the body's length in bytes")                                    \
    ARG(data, "data", kString, "the body (its first 1 MiB)"))                                      \
  EVENT(kMimeAllData, mime_all_data, kContent, "The decoded bodies of all entities of a message.", \
    ARG(length, "length", kCount, "their length in bytes")                                         \
    ARG(data, "data", kString, "the bodies (their first 4 MiB)"))                                  \
  EVENT(kMimeContentHash, mime_content_hash, kProtocol,                                            \
    "The MD5 of all decoded bodies of a message.",                                                 \
    ARG(content_len, "content_len", kCount, "their length in bytes")                               \
    ARG(hash_value, "hash_value", kString, "the MD5 digest, 16 raw bytes"))                        \
  EVENT(kMimeContentHashSha256, mime_content_hash_sha256, kProtocol,                               \
    "The SHA-256 of all decoded bodies of a message.",                                             \
    ARG(content_len, "content_len", kCount, "their length in bytes")                               \
    ARG(hash_value, "hash_value", kString, "the SHA-256 digest, 32 raw bytes"))                    \
  EVENT(kFileNew, file_new, kProtocol,                                                             \
    "File analysis begins a file (a MIME entity, or a whole message).",                            \
    ARG(f_id, "f.id", kString, "the file's fuid")                                                  \
    ARG(f_source, "f.source", kString, "the protocol it came over (SMTP)"))                        \
  EVENT(kFileOverNewConnection, file_over_new_connection, kProtocol,                               \
    "The file is seen over a connection (the one the event names).",                               \
    ARG(f_id, "f.id", kString, "the file's fuid")                                                  \
    ARG(is_orig, "is_orig", kBool, "whether the originator sent it"))                              \
  EVENT(kFileSniff, file_sniff, kProtocol,                                                         \
    "The file's content type, sniffed from its first bytes.",                                      \
    ARG(f_id, "f.id", kString, "the file's fuid")                                                  \
    ARG(meta_mime_type, "meta.mime_type", kString, "the media type, empty if none was found"))     \
  EVENT(kFileGap, file_gap, kProtocol,                                                             \
    "Bytes of the file are missing (a gap in the TCP content).",                                   \
    ARG(f_id, "f.id", kString, "the file's fuid")                                                  \
    ARG(offset, "offset", kCount, "where in the file the gap begins")                              \
    ARG(len, "len", kCount, "how many bytes are missing"))                                         \
  EVENT(kFileHash, file_hash, kProtocol, "A digest of the whole file's content, when it ends.",    \
    ARG(f_id, "f.id", kString, "the file's fuid")                                                  \
    ARG(kind, "kind", kString, "md5, sha1 or sha256")                                              \
    ARG(hash, "hash", kString, "the digest in lower-case hex"))                                    \
  EVENT(kFileStateRemove, file_state_remove, kProtocol,                                            \
    "The file ended; its files.log record is written.",                                            \
    ARG(f_id, "f.id", kString, "the file's fuid")                                                  \
    ARG(f_source, "f.source", kString, "the protocol it came over (SMTP)")                         \
    ARG(f_info_mime_type, "f.info.mime_type", kString, "the sniffed media type, may be empty")     \
    ARG(f_seen_bytes, "f.seen_bytes", kCount, "bytes of content seen")                             \
    ARG(f_missing_bytes, "f.missing_bytes", kCount, "bytes of content missed in gaps"))
// clang-format on
