// JSON string escaping for raw protocol bytes.
#pragma once

#include <string>
#include <string_view>

namespace mailtap {

// Appends `bytes` to `out` as the contents of a JSON string (without the quotes). Valid UTF-8
// passes through; `"`, `\` and control characters get standard JSON escapes; every byte that is
// not part of valid UTF-8 becomes the literal text `\xNN` (written as `\\xNN` in JSON), as Zeek's
// JSON logs do. The result is always valid JSON whatever the input.
void AppendJsonEscaped(std::string_view bytes, std::string* out);

// Convenience: `"` + escaped + `"`.
std::string JsonQuoted(std::string_view bytes);

}  // namespace mailtap
