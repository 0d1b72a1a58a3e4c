// Word-at-a-time byte tests (the classic bit tricks): scanning text 8 bytes per step for the
// few byte values that need attention (line ends, characters JSON must escape).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

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
constexpr bool HasByte(uint64_t word, uint8_t c) {
  return HasByteBelow(word ^ (kEveryByte * c), 1);
}

// True if some byte of `word` has its high bit set (is not ASCII).
constexpr bool HasNonAscii(uint64_t word) { return (word & kEveryHighBit) != 0; }

// Offset of the first byte of `data` that is <= `limit` (unsigned), or data.size() if none.
// 16 bytes per step with SSE2 (every x86-64 CPU), then 8 with the word trick, then 1.
inline size_t FindByteAtMost(std::span<const uint8_t> data, uint8_t limit) {
  size_t i = 0;
#if defined(__SSE2__)
  const __m128i max = _mm_set1_epi8(static_cast<char>(limit));
  for (; i + 16 <= data.size(); i += 16) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(data.data() + i));
    // min(v, max) == v exactly where v <= max, byte by byte and unsigned.
    const auto hits =
        static_cast<unsigned>(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_min_epu8(v, max), v)));
    if (hits != 0) return i + static_cast<size_t>(__builtin_ctz(hits));
  }
#endif
  if (limit < 128) {
    for (; i + 8 <= data.size(); i += 8) {
      if (HasByteBelow(LoadWord(data.data() + i), static_cast<uint8_t>(limit + 1))) break;
    }
  }
  for (; i < data.size(); ++i) {
    if (data[i] <= limit) return i;
  }
  return data.size();
}

}  // namespace mailtap
