// Incremental MD5, SHA-1 and SHA-256 of a file's bytes (Zeek's MD5/SHA1/SHA256 file analyzers),
// computed by libcrypto.
#pragma once

#include <memory>
#include <string>
#include <string_view>

namespace mailtap {

enum class HashKind { kMd5, kSha1, kSha256 };
inline constexpr HashKind kHashKinds[] = {HashKind::kMd5, HashKind::kSha1, HashKind::kSha256};

// "md5", "sha1", "sha256": Zeek's `kind` argument of file_hash and its files.log column names.
std::string_view HashKindName(HashKind kind);
// "MD5", "SHA1", "SHA256": the analyzer names files.log's `analyzers` lists.
std::string_view HashAnalyzerName(HashKind kind);

// One running digest per kind. Not copyable; cheap to move. Not thread-safe.
class FileHasher {
 public:
  FileHasher();
  ~FileHasher();
  FileHasher(FileHasher&&) noexcept;
  FileHasher& operator=(FileHasher&&) noexcept;

  void Update(std::string_view bytes);
  // Lower-case hex digest of everything passed to Update. Call once: the digest is final after.
  std::string Finish(HashKind kind);

 private:
  struct Contexts;
  std::unique_ptr<Contexts> contexts_;
};

}  // namespace mailtap
