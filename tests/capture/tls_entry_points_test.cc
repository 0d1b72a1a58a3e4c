#include "capture/tls_entry_points.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <link.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace mailtap {
namespace {

// Built from fake_tls_wrappers.cc by tests/capture/CMakeLists.txt.
const std::string kFakeLibrary = MAILTAP_FAKE_TLS_WRAPPERS;

// The file offset of an exported symbol of the fake library, found through the dynamic loader
// (not through the code under test): its address minus the load base, which for this library is
// also its file offset (its executable segment's p_offset equals its p_vaddr; checked below).
uint64_t LoaderOffsetOf(const char* symbol) {
  void* handle = dlopen(kFakeLibrary.c_str(), RTLD_NOW | RTLD_LOCAL);
  EXPECT_NE(handle, nullptr) << dlerror();
  if (handle == nullptr) return 0;
  void* address = dlsym(handle, symbol);
  Dl_info info{};
  EXPECT_NE(dladdr(address, &info), 0);
  return reinterpret_cast<uintptr_t>(address) - reinterpret_cast<uintptr_t>(info.dli_fbase);
}

TEST(FindSharedCalleeTest, FindsTheInternalFunctionBothWrappersCallFirst) {
  const SharedCallee found = FindSharedCalleeInFile(kFakeLibrary, "read_a", "read_b");
  ASSERT_TRUE(found.file_offset.has_value()) << found.reason;
  EXPECT_EQ(*found.file_offset, LoaderOffsetOf("expected_read"));
}

TEST(FindSharedCalleeTest, ProbesPastAnEndbr64ThatChangesNoRegister) {
  const SharedCallee found = FindSharedCalleeInFile(kFakeLibrary, "write_a", "write_b");
  ASSERT_TRUE(found.file_offset.has_value()) << found.reason;
  EXPECT_EQ(*found.file_offset, LoaderOffsetOf("expected_write") + 4);
}

TEST(FindSharedCalleeTest, RefusesWrappersThatCallDifferentFunctions) {
  const SharedCallee found = FindSharedCalleeInFile(kFakeLibrary, "other_a", "other_b");
  EXPECT_FALSE(found.file_offset.has_value());
  EXPECT_EQ(found.reason, "other_a and other_b do not call one function first");
}

TEST(FindSharedCalleeTest, RefusesACalleeTheKernelWouldSingleStep) {
  const SharedCallee found = FindSharedCalleeInFile(kFakeLibrary, "stepped_a", "stepped_b");
  EXPECT_FALSE(found.file_offset.has_value());
  EXPECT_EQ(found.reason, "the shared function does not begin with a push");
}

TEST(FindSharedCalleeTest, NamesAMissingExportAndAFileThatIsNotElf) {
  EXPECT_EQ(FindSharedCalleeInFile(kFakeLibrary, "read_a", "SSL_read").reason,
            "no exported SSL_read");
  const std::vector<uint8_t> junk(100, 0x7f);
  EXPECT_EQ(FindSharedCallee(junk, "a", "b").reason, "not an ELF file");
  EXPECT_EQ(FindSharedCallee({}, "a", "b").reason, "not an ELF file");
  EXPECT_EQ(FindSharedCalleeInFile("/nonexistent/libssl.so.3", "a", "b").reason,
            "cannot open /nonexistent/libssl.so.3");
}

TEST(FindSharedCalleeTest, EveryTruncationOfTheFileIsRefusedOrAnsweredWithinIt) {
  std::ifstream in(kFakeLibrary, std::ios::binary);
  const std::vector<uint8_t> whole((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
  ASSERT_GT(whole.size(), 1000u);
  for (size_t n = 0; n < whole.size(); n += 7) {
    const std::span<const uint8_t> cut(whole.data(), n);
    const SharedCallee found = FindSharedCallee(cut, "read_a", "read_b");
    if (found.file_offset) {
      EXPECT_LT(*found.file_offset, n);
    }
  }
}

// The system's OpenSSL, where installed (the live tests' Postfix uses it): SSL_read and
// SSL_read_ex share their internal function, likewise the write functions, and the two differ.
TEST(FindSharedCalleeTest, FindsOpenSslsInternalReadAndWriteWhereInstalled) {
  const std::string libssl = "/usr/lib/x86_64-linux-gnu/libssl.so.3";
  if (!std::filesystem::exists(libssl)) GTEST_SKIP() << libssl << " not installed";
  const SharedCallee read = FindSharedCalleeInFile(libssl, "SSL_read", "SSL_read_ex");
  const SharedCallee write = FindSharedCalleeInFile(libssl, "SSL_write", "SSL_write_ex");
  ASSERT_TRUE(read.file_offset.has_value()) << read.reason;
  ASSERT_TRUE(write.file_offset.has_value()) << write.reason;
  EXPECT_NE(*read.file_offset, *write.file_offset);
}

}  // namespace
}  // namespace mailtap
