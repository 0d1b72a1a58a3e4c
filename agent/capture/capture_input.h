// The bytes of a capture file as libpcap reads them: gzip-compressed input inflated on the fly,
// and reads from a pipe that a stop request ends.
#pragma once

#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>

namespace mailtap {

// An open capture input. `file` is for pcap_fopen_offline(), which takes it over (pcap_close()
// closes it, and with it everything below).
struct CaptureInput {
  FILE* file = nullptr;
  bool stream = false;      // a pipe or terminal: may stay quiet for a long time
  bool compressed = false;  // gzip, inflated as it is read
  // Whether a read would return at once (a pipe has bytes, or inflated bytes are buffered).
  // Waits up to `wait_ms` for a quiet stream. Only while `file` is open.
  std::function<bool(int wait_ms)> readable;
  // Sets what a read of a stream calls, on the reading thread, every 200 ms that it waits for
  // bytes (the rest of a packet, from a writer that stopped in its middle). Only while `file`
  // is open.
  std::function<void(std::function<void()> on_wait)> set_on_wait;
};

// Opens `path` ("-" = standard input). Gzip input (the magic bytes 1f 8b, whatever the file is
// called: `.pcap.gz`, or `zcat`-less from a pipe) is inflated, concatenated members included.
// Reads of a stream wait in poll() and return end of input once `stop` is set, so a stop request
// ends a replay even while it waits for the rest of a packet or for the file header.
// Throws std::runtime_error with errno's text (no such file, a directory, ...) at start-up.
CaptureInput OpenCaptureInput(const std::string& path,
                              std::shared_ptr<const std::atomic<bool>> stop);

}  // namespace mailtap
