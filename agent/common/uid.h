// Connection uids in Zeek's shape: "C" followed by base62 digits.
#pragma once

#include <cstdint>
#include <string>

namespace mailtap {

// Deterministic for a given seed, so that replaying the same capture twice gives the same uids
// (useful for diffing outputs); the live agent seeds it from the clock at start.
class UidGenerator {
 public:
  explicit UidGenerator(uint64_t seed) : state_(seed) {}
  // Returns a fresh uid: "C" + 96 pseudo-random bits in base62.
  std::string Next(char prefix = 'C');

 private:
  uint64_t NextWord();
  uint64_t state_;
};

}  // namespace mailtap
