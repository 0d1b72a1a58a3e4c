// The lexical pieces of MIME headers with Zeek's rules (spec 19.1 "Header handling"): header
// fields, tokens, media types and parameters (RFC 2045 section 5, RFC 822 comments).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mailtap::mime {

// A complete (unfolded) header field split into name and value: the name is the first run of
// field-name characters (33..126 except ':') after leading whitespace/comments; a ':' must follow
// (whitespace/comments allowed in between); the value is everything after the first ':' with
// leading whitespace removed and trailing whitespace kept. nullopt = malformed (dropped).
// Views point into `field`.
struct HeaderField {
  std::string_view name;
  std::string_view value;
};
std::optional<HeaderField> ParseHeaderField(std::string_view field);

// What a Content-Type value declares, as far as the MIME analyzer cares. Views point into the
// value, except `boundary`, whose quoted pairs are decoded.
struct ContentTypeField {
  std::string_view type;                // "multipart", as sent
  std::string_view subtype;             // "mixed", as sent
  std::optional<std::string> boundary;  // the boundary parameter, when `type` is multipart
};
// nullopt when no "type/subtype" pair is found (Zeek then keeps the earlier type).
std::optional<ContentTypeField> ParseContentType(std::string_view value);

// The first token of a Content-Transfer-Encoding value ("base64"), if any.
std::optional<std::string_view> FirstToken(std::string_view value);

// Zeek's extract_filename_from_content_disposition (base/utils/files.zeek): the text after the
// last "name=" / "filename*=", unquoted, without an RFC 2231 charset'language' prefix,
// percent-decoded. Display only: attacker-chosen.
std::string FilenameFromHeaderValue(std::string_view value);
// Whether a Content-Disposition value carries a filename ("filename=" or "filename*="), or a
// Content-Type value a name ("name="), as entities.zeek tests before extracting one.
bool HasFilenameParameter(std::string_view disposition_value);
bool HasNameParameter(std::string_view content_type_value);

}  // namespace mailtap::mime
