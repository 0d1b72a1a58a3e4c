// The kernel's capture clock (CLOCK_BOOTTIME, what bpf_ktime_get_boot_ns() stamps) turned into
// packet time, shared by the socket filter's and the TLS probes' ring readers so that both rings
// land on one time line.
#pragma once

#include <time.h>

#include <climits>
#include <cstdint>

#include "mailtap/packet.h"

namespace mailtap {

// The current time of `clock` in nanoseconds.
inline int64_t Nanos(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// Converts CLOCK_BOOTTIME stamps to the epoch. The offset is re-measured once a second of
// capture time so that clock steps (NTP, settimeofday) are followed.
class BootClock {
 public:
  Timestamp ToEpoch(uint64_t boot_ns) {
    const int64_t ns = static_cast<int64_t>(boot_ns);
    if (ns - calibrated_at_ > 1000000000 || ns < calibrated_at_) Calibrate();
    return Timestamp{(ns + offset_) / 1000};
  }

 private:
  // The offset read between two boot-clock readings, to halve the error of being preempted.
  void Calibrate() {
    const int64_t before = Nanos(CLOCK_BOOTTIME);
    const int64_t real = Nanos(CLOCK_REALTIME);
    const int64_t after = Nanos(CLOCK_BOOTTIME);
    calibrated_at_ = before + (after - before) / 2;
    offset_ = real - calibrated_at_;
  }

  int64_t calibrated_at_ = INT64_MIN / 2;
  int64_t offset_ = 0;
};

}  // namespace mailtap
