#include "files/file_hasher.h"

#include <openssl/evp.h>

#include <array>
#include <new>

namespace mailtap {
namespace {

struct ContextDeleter {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using ContextPtr = std::unique_ptr<EVP_MD_CTX, ContextDeleter>;

const EVP_MD* Digest(HashKind kind) {
  switch (kind) {
    case HashKind::kMd5:
      return EVP_md5();
    case HashKind::kSha1:
      return EVP_sha1();
    case HashKind::kSha256:
      return EVP_sha256();
  }
  return EVP_sha256();
}

}  // namespace

std::string_view HashKindName(HashKind kind) {
  switch (kind) {
    case HashKind::kMd5:
      return "md5";
    case HashKind::kSha1:
      return "sha1";
    case HashKind::kSha256:
      return "sha256";
  }
  return "sha256";
}

std::string_view HashAnalyzerName(HashKind kind) {
  switch (kind) {
    case HashKind::kMd5:
      return "MD5";
    case HashKind::kSha1:
      return "SHA1";
    case HashKind::kSha256:
      return "SHA256";
  }
  return "SHA256";
}

struct FileHasher::Contexts {
  std::array<ContextPtr, 3> ctx;
};

// An allocation failure here is memory exhaustion, not network input: it throws like any other
// allocation in the pipeline would.
FileHasher::FileHasher() : contexts_(std::make_unique<Contexts>()) {
  for (HashKind kind : kHashKinds) {
    ContextPtr ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestInit_ex(ctx.get(), Digest(kind), nullptr) != 1) throw std::bad_alloc();
    contexts_->ctx[static_cast<size_t>(kind)] = std::move(ctx);
  }
}

FileHasher::~FileHasher() = default;
FileHasher::FileHasher(FileHasher&&) noexcept = default;
FileHasher& FileHasher::operator=(FileHasher&&) noexcept = default;

void FileHasher::Update(std::string_view bytes) {
  if (bytes.empty()) return;
  for (ContextPtr& ctx : contexts_->ctx) EVP_DigestUpdate(ctx.get(), bytes.data(), bytes.size());
}

std::string FileHasher::Finish(HashKind kind) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  EVP_DigestFinal_ex(contexts_->ctx[static_cast<size_t>(kind)].get(), digest.data(), &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xf]);
  }
  return hex;
}

}  // namespace mailtap
