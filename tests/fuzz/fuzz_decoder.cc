// One captured frame of any bytes, for each link type the decoder supports (the first byte picks
// it): the decoder must refuse or decode it without reading outside the frame, and a decoded
// segment's payload must lie inside the frame.
#include <cstdint>
#include <cstdlib>
#include <span>

#include "capture/decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mailtap;
  if (size < 3) return 0;
  // DLT_NULL, DLT_EN10MB, DLT_RAW (two numbers), DLT_LOOP, DLT_LINUX_SLL, DLT_LINUX_SLL2, IPv4,
  // IPv6.
  static constexpr int kLinkTypes[] = {0, 1, 12, 14, 101, 108, 113, 276, 228, 229};
  const int dlt = kLinkTypes[data[0] % std::size(kLinkTypes)];
  // Bytes 1-2: how many bytes of the frame the snaplen cut off.
  const size_t uncaptured = size_t{data[1]} << 8 | data[2];
  const std::span<const uint8_t> frame(data + 3, size - 3);
  TcpSegment segment;
  if (DecodeFrame(dlt, frame, frame.size() + uncaptured, &segment) != DecodeResult::kTcpSegment) {
    return 0;
  }
  const uint8_t* begin = frame.data();
  const uint8_t* end = frame.data() + frame.size();
  if (!segment.payload.empty() &&
      (segment.payload.data() < begin || segment.payload.data() + segment.payload.size() > end)) {
    std::abort();
  }
  if (segment.payload_wire_len < segment.payload.size()) std::abort();
  // The payload not captured lies within what the snaplen cut off.
  if (segment.payload_wire_len - segment.payload.size() > uncaptured) std::abort();
  return 0;
}
