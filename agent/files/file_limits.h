// What one file under analysis may hold, and how many may be open: the constants the memory plan
// (memory_budget.h) adds up, kept free of the analyzer's own dependencies.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mailtap {

// How much of a file's beginning the content sniffer sees: Zeek's default_file_bof_buffer_size.
inline constexpr size_t kSniffBytes = 4096;
// Files open at once: each holds three digest states and up to kSniffBytes. A message has one
// open file per nesting level, so these are far above what mail needs and only bound hostile
// nesting; files beyond them are not analysed (counted).
inline constexpr size_t kMaxOpenFilesPerConnection = 128;
inline constexpr size_t kMaxOpenFiles = 4096;
// Of the sender's file name, what files.log can print (Log::default_max_field_string_bytes) plus
// one, so that the writer still sees it was cut; the declared type is two RFC 6838 names of at
// most 127 characters and a slash. Longer ones are kept only to these lengths.
inline constexpr size_t kMaxKeptFilenameBytes = 4096 + 1;
inline constexpr size_t kMaxKeptDeclaredTypeBytes = 255;
// The heap one open file may take at most: the sniff buffer (reserved whole), the kept file name
// and type, three digest states (OpenSSL: ≈ 0.4 KiB each with their contexts), the record and
// its map node. tests/files/file_analyzer_test.cc measures it (OpenFilesStayWithinTheirBytes).
inline constexpr uint64_t kOpenFileBytes = 12 * 1024;

}  // namespace mailtap
