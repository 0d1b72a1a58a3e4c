// FindByteAtMost against a byte-by-byte scan: every length across the 16-, 8- and 1-byte steps,
// every position of the first low byte, and limits on both sides of the signed-byte boundary.
#include "common/word_bytes.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace mailtap {
namespace {

size_t NaiveFind(const std::vector<uint8_t>& data, uint8_t limit) {
  for (size_t i = 0; i < data.size(); ++i) {
    if (data[i] <= limit) return i;
  }
  return data.size();
}

TEST(FindByteAtMost, AgreesWithAByteByByteScan) {
  for (int limit : {0, 9, 13, 31, 127, 128, 200, 254}) {
    const auto lim = static_cast<uint8_t>(limit);
    // Filler above the limit, including bytes with the high bit set (negative as signed chars).
    std::vector<uint8_t> fillers;
    for (int f : {limit + 1, 0x7f, 0x80, 0xc3, 0xff}) {
      if (f > limit && f <= 0xff) fillers.push_back(static_cast<uint8_t>(f));
    }
    for (uint8_t filler : fillers) {
      for (size_t len = 0; len <= 48; ++len) {
        std::vector<uint8_t> data(len, filler);
        ASSERT_EQ(FindByteAtMost(data, lim), len) << "limit " << limit << " len " << len;
        for (size_t pos = 0; pos < len; ++pos) {
          for (uint8_t low : {uint8_t{0}, lim}) {
            std::vector<uint8_t> d = data;
            d[pos] = low;
            if (pos + 3 < len) d[pos + 3] = low;  // a later hit must not win
            ASSERT_EQ(FindByteAtMost(d, lim), NaiveFind(d, lim))
                << "limit " << limit << " filler " << int{filler} << " len " << len << " pos "
                << pos;
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace mailtap
