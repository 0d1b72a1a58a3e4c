// Turns the socket filter's ring-buffer records (bpf_abi.h) into TCP segments: validates each
// record, hands a one-record packet out in place, and joins the chunk records of a larger packet
// (one CPU at a time, in order). Pure: no kernel, no clock of its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "mailtap/bpf_abi.h"
#include "mailtap/packet.h"
#include "mailtap/stats.h"

namespace mailtap {

class RecordAssembler {
 public:
  // What became of a record offered, and what the caller does with it in the ring.
  enum class Outcome : uint8_t {
    kConsumed,           // used up (stored, or counted as bad/orphan): consume it, no segment
    kSegmentConsumed,    // *seg is a joined packet, copied out: consume the record
    kSegmentInRecord,    // *seg points into the record: consume it once the segment is used
    kSegmentRecordKept,  // *seg is an earlier, unfinished packet: offer this record again
  };

  // `to_epoch` converts the filter's CLOCK_BOOTTIME nanoseconds to a timestamp. Records name
  // their CPU: those of CPUs >= `ncpus` are bad records.
  RecordAssembler(size_t ncpus, std::function<Timestamp(uint64_t boot_ns)> to_epoch);

  // One record, as read from the ring. A segment filled from it stays valid until the next
  // call (and, for kSegmentInRecord, while the record stays in the ring).
  Outcome Offer(std::span<const uint8_t> record, TcpSegment* seg);

  // When the ring is empty, the missing chunks of an unfinished packet are not coming: hands one
  // such packet out (with payload_wire_len above its payload, so the reassembler reports the
  // gap) and returns true; false when there is none.
  bool FlushPartial(TcpSegment* seg);

  // Counters for the "capture" statistics group.
  const Counter& bytes() const { return bytes_; }                   // payload bytes read
  const Counter& segments() const { return segments_; }             // segments handed out
  const Counter& truncated_segments() const { return truncated_; }  // ... with bytes missing
  const Counter& orphan_chunks() const { return orphan_chunks_; }   // chunks without a packet
  const Counter& bad_records() const { return bad_records_; }       // malformed records

  // Capture time (the filter's CLOCK_BOOTTIME nanoseconds) of the last segment handed out: the
  // live source hands over TLS plaintext captured before it, so the two rings stay in order.
  uint64_t last_segment_boot_ns() const { return last_segment_boot_ns_; }

 private:
  // A packet whose payload arrives in several chunk records.
  struct Partial {
    bool active = false;
    mailtap_rec_hdr hdr{};
    std::vector<uint8_t> bytes;  // at most MAILTAP_MAX_COPY
  };

  Outcome Accept(const mailtap_rec_hdr& h, std::span<const uint8_t> payload, TcpSegment* seg);
  Outcome Continue(const mailtap_rec_hdr& h, std::span<const uint8_t> payload, TcpSegment* seg);
  void EmitPartial(Partial& p, TcpSegment* seg);
  void Fill(const mailtap_rec_hdr& h, std::span<const uint8_t> payload, TcpSegment* seg);

  std::function<Timestamp(uint64_t)> to_epoch_;
  std::vector<Partial> partials_;  // indexed by CPU
  Counter bytes_, segments_, truncated_, orphan_chunks_, bad_records_;
  uint64_t last_segment_boot_ns_ = 0;
};

}  // namespace mailtap
