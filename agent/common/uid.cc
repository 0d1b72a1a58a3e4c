#include "common/uid.h"

#include <sys/random.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

namespace mailtap {

uint64_t UidGenerator::NextWord() {
  // splitmix64: tiny, fast, and every seed gives a full-period, well-mixed sequence.
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::string UidGenerator::Next(char prefix) {
  static constexpr char kDigits[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::string out;
  // Two words: 64 bits, then 32 more, as Zeek's 96-bit uids.
  uint64_t words[2] = {NextWord(), NextWord() >> 32};
  for (uint64_t w : words) {
    do {
      out.push_back(kDigits[w % 62]);
      w /= 62;
    } while (w != 0);
  }
  out.push_back(prefix);
  std::reverse(out.begin(), out.end());
  return out;
}

uint64_t RandomUidSeed() {
  uint64_t seed = 0;
  ssize_t n = 0;
  do {
    n = ::getrandom(&seed, sizeof(seed), 0);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof(seed))) return seed;
  const auto now = std::chrono::system_clock::now().time_since_epoch();
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now).count()) ^
         (static_cast<uint64_t>(::getpid()) << 40);
}

}  // namespace mailtap
