#include "capture/record_assembler.h"

#include <cstring>
#include <utility>

namespace mailtap {

RecordAssembler::RecordAssembler(size_t ncpus, std::function<Timestamp(uint64_t)> to_epoch)
    : to_epoch_(std::move(to_epoch)), partials_(ncpus) {}

RecordAssembler::Outcome RecordAssembler::Offer(std::span<const uint8_t> record, TcpSegment* seg) {
  mailtap_rec_hdr h;
  if (record.size() < sizeof h) {
    bad_records_.Add();
    return Outcome::kConsumed;
  }
  std::memcpy(&h, record.data(), sizeof h);
  if (h.chunk_len > record.size() - sizeof h || h.cpu >= partials_.size() ||
      (h.ip_version != 4 && h.ip_version != 6)) {
    bad_records_.Add();
    return Outcome::kConsumed;
  }
  return Accept(h, record.subspan(sizeof h, h.chunk_len), seg);
}

// Chunk protocol (bpf_abi.h): FIRST starts a packet, LAST ends it; chunks of one packet come
// from one CPU, in order, with the same pkt_id.
RecordAssembler::Outcome RecordAssembler::Accept(const mailtap_rec_hdr& h,
                                                 std::span<const uint8_t> payload,
                                                 TcpSegment* seg) {
  if ((h.rec_flags & MAILTAP_REC_FIRST) == 0) return Continue(h, payload, seg);
  Partial& p = partials_[h.cpu];
  if (p.active) {  // its LAST never came: hand it out first, this record stays in the ring
    EmitPartial(p, seg);
    return Outcome::kSegmentRecordKept;
  }
  if (h.rec_flags & MAILTAP_REC_LAST) {  // the common case: one record, no copy
    Fill(h, payload, seg);
    bytes_.Add(payload.size());
    return Outcome::kSegmentInRecord;
  }
  p.active = true;
  p.hdr = h;
  p.bytes.assign(payload.begin(), payload.end());
  bytes_.Add(payload.size());
  return Outcome::kConsumed;
}

RecordAssembler::Outcome RecordAssembler::Continue(const mailtap_rec_hdr& h,
                                                   std::span<const uint8_t> payload,
                                                   TcpSegment* seg) {
  Partial& p = partials_[h.cpu];
  if (!p.active || p.hdr.pkt_id != h.pkt_id || h.offset != p.bytes.size() ||
      p.bytes.size() + payload.size() > MAILTAP_MAX_COPY) {
    orphan_chunks_.Add();
    return Outcome::kConsumed;
  }
  p.bytes.insert(p.bytes.end(), payload.begin(), payload.end());
  bytes_.Add(payload.size());
  p.hdr.rec_flags |= h.rec_flags;
  if ((h.rec_flags & MAILTAP_REC_LAST) == 0) return Outcome::kConsumed;
  EmitPartial(p, seg);
  return Outcome::kSegmentConsumed;
}

bool RecordAssembler::FlushPartial(TcpSegment* seg) {
  for (Partial& p : partials_) {
    if (p.active) {
      EmitPartial(p, seg);
      return true;
    }
  }
  return false;
}

// The bytes stay in the partial's buffer, which is not reused before the next call.
void RecordAssembler::EmitPartial(Partial& p, TcpSegment* seg) {
  p.active = false;
  Fill(p.hdr, p.bytes, seg);
}

void RecordAssembler::Fill(const mailtap_rec_hdr& h, std::span<const uint8_t> payload,
                           TcpSegment* seg) {
  seg->ts = to_epoch_(h.ts_ns);
  if (h.ip_version == 4) {
    seg->src = IpAddress::FromV4(std::span<const uint8_t, 4>(h.saddr, 4));
    seg->dst = IpAddress::FromV4(std::span<const uint8_t, 4>(h.daddr, 4));
  } else {
    seg->src = IpAddress::FromV6(std::span<const uint8_t, 16>(h.saddr, 16));
    seg->dst = IpAddress::FromV6(std::span<const uint8_t, 16>(h.daddr, 16));
  }
  seg->src_port = h.sport;
  seg->dst_port = h.dport;
  seg->seq = h.seq;
  seg->ack = h.ack;
  seg->flags = h.tcp_flags;
  seg->window = h.window;
  seg->ifindex = h.ifindex;
  seg->payload = payload;
  seg->payload_wire_len = h.wire_len;
  seg->ip_len = 0;  // the record carries no IP header: conn.log leaves the IP byte counts unset
  segments_.Add();
  last_segment_boot_ns_ = h.ts_ns;
  if (payload.size() < h.wire_len) truncated_.Add();
}

}  // namespace mailtap
