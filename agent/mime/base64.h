// A streaming base64 decoder with the behaviour of Zeek's Base64Converter, which decodes MIME
// bodies: what it does with bad input (skips and pads) is part of the output.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace mailtap::mime {

// Receives what the decoder finds wrong. Zeek reports these as the weird
// `base64_illegal_encoding` with the message as its addl.
class Base64Listener {
 public:
  virtual ~Base64Listener() = default;
  virtual void OnIllegalBase64(std::string_view message) = 0;
};

// Decodes a body fed in pieces of any size. Holds one partial group (at most 3 symbols).
//  * Characters outside the alphabet are skipped; only the first problem of a decoder is
//    reported ("character N ignored by Base64 decoding", N as a signed char).
//  * '=' counts as padding wherever it is; a group with padding yields fewer bytes, and groups
//    after it are dropped ("extra base64 groups after '=' padding are ignored", first problem
//    only).
//  * Finish() pads an incomplete group with zero bits and always reports it.
class Base64Decoder {
 public:
  // `listener` must outlive the decoder.
  explicit Base64Decoder(Base64Listener& listener) : listener_(listener) {}

  // Appends the bytes `text` decodes to to `out`.
  void Decode(std::string_view text, std::string* out);
  // The end of the body: an incomplete group is completed with zero bits into `out`.
  void Finish(std::string* out);

 private:
  void EmitGroup(std::string* out);
  void Problem(std::string_view message);

  Base64Listener& listener_;
  uint8_t group_[4] = {0, 0, 0, 0};
  int group_size_ = 0;
  int padding_ = 0;
  bool after_padding_ = false;
  uint64_t problems_ = 0;
};

}  // namespace mailtap::mime
