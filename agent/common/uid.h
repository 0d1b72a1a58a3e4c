// Connection uids in Zeek's shape: "C" followed by base62 digits.
#pragma once

#include <cstdint>
#include <string>

namespace mailtap {

// Deterministic for a given seed (mailtapd --uid-seed: reproducible outputs for tests); by default
// mailtapd seeds it with RandomUidSeed(), so that uids differ between runs and agents.
class UidGenerator {
 public:
  explicit UidGenerator(uint64_t seed) : state_(seed) {}
  // Returns a fresh uid: "C" + 96 pseudo-random bits in base62.
  std::string Next(char prefix = 'C');

 private:
  uint64_t NextWord();
  uint64_t state_;
};

// 64 random bits from the kernel (getrandom), so that two agents, or two replays of one capture,
// give different uids (Zeek seeds its uids the same way unless told otherwise). Should the kernel
// have none (no getrandom), the clock in nanoseconds and the process id stand in.
uint64_t RandomUidSeed();

}  // namespace mailtap
