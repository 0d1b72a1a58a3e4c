// Word-at-a-time byte tests (the classic bit tricks): scanning text 8 bytes per step for the
// few byte values that need attention (line ends, characters JSON must escape).
#pragma once

#include <cstdint>
#include <cstring>

namespace mailtap {

inline constexpr uint64_t kEveryByte = 0x0101010101010101ULL;
inline constexpr uint64_t kEveryHighBit = 0x8080808080808080ULL;

// The 8 bytes at `p` (any alignment).
inline uint64_t LoadWord(const void* p) {
  uint64_t word;
  std::memcpy(&word, p, sizeof word);
  return word;
}

// True if some byte of `word` is below `n` (exact for n <= 128).
constexpr bool HasByteBelow(uint64_t word, uint8_t n) {
  return ((word - kEveryByte * n) & ~word & kEveryHighBit) != 0;
}

// True if some byte of `word` equals `c`.
constexpr bool HasByte(uint64_t word, uint8_t c) { return HasByteBelow(word ^ (kEveryByte * c), 1); }

// True if some byte of `word` has its high bit set (is not ASCII).
constexpr bool HasNonAscii(uint64_t word) { return (word & kEveryHighBit) != 0; }

}  // namespace mailtap
