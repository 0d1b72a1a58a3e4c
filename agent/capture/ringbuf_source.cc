#include "capture/ringbuf_source.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <stdexcept>
#include <utility>

#include "capture/boot_clock.h"
#include "capture/kernel_counters.h"
#include "capture/privileges.h"
#include "capture/record_assembler.h"
#include "capture/ring_reader.h"
#include "capture/ringbuf_loader.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "mailtap.skel.h"
#include "mailtap/bpf_abi.h"

namespace mailtap {
namespace {

// Names and help of the kernel counters, indexed by enum mailtap_counter.
constexpr KernelCounterInfo kCounterInfo[MAILTAP_CTR__COUNT] = {
    {"kernel_packets_seen", "Packets the socket filter ran on.", {}},
    {"kernel_loopback_tx_skipped",
     "Loopback transmit copies skipped (captured when received).",
     {}},
    {"kernel_non_ip", "Packets that are neither IPv4 nor IPv6.", {}},
    {"kernel_bad_ip_header", "Packets with an unreadable or inconsistent IP header.", {}},
    {"kernel_fragments", "IP fragments (not reassembled by the filter).", {}},
    {"kernel_not_tcp", "IP packets that are not TCP.", {}},
    {"kernel_bad_tcp_header", "TCP segments with an unreadable or inconsistent header.", {}},
    {"kernel_port_mismatch", "TCP segments on no SMTP port.", {}},
    {"kernel_matched", "TCP segments on an SMTP port.", {}},
    {"kernel_matched_bytes", "TCP payload bytes on the wire of matched segments.", {}},
    {"kernel_records", "Ring buffer records submitted.", {}},
    {"kernel_record_bytes", "Payload bytes copied into the ring buffer.", {}},
    {"kernel_ringbuf_full",
     "Segments not copied in full because the ring buffer was full.",
     {"kernel_ringbuf_full", LossUnit::kPackets}},
    {"kernel_ringbuf_full_bytes", "Payload bytes lost because the ring buffer was full.", {}},
    {"kernel_ringbuf_lost_packets",
     "Segments lost to a full ring buffer without even a loss marker.",
     {}},
    {"kernel_truncated",
     "Segments whose payload exceeds what the filter copies.",
     {"kernel_truncated", LossUnit::kPackets}},
    {"kernel_truncated_bytes", "Payload bytes not copied because of truncation.", {}},
    {"kernel_unknown_link", "Segments whose link-layer header length was not recognised.", {}},
    {"kernel_load_failed",
     "Segments whose payload could not be read from the packet.",
     {"kernel_load_failed", LossUnit::kPackets}},
    // Not a loss, as in a replay (capture.ip_length_past_frame): the receiving kernel drops such
    // a packet too, so its bytes never reached the server.
    {"kernel_ip_length_past_frame",
     "Segments whose IP length field claims more bytes than the packet has (dropped, as the "
     "receiving kernel does).",
     {}},
};

using ringbuf_loader::ErrnoText;
using ringbuf_loader::Fail;

// Owns an mmap'ed region.
class Mapping {
 public:
  Mapping() = default;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() {
    if (addr_ != nullptr) munmap(addr_, len_);
  }
  // MAP_POPULATE: the kernel allocated the pages with the map; populating sets up the page
  // tables now rather than with one page fault per 4 KiB during the first pass through the
  // ring (thousands of faults on the pipeline thread while traffic is heaviest).
  void Map(int fd, size_t len, int prot, off_t offset, const char* what) {
    void* addr = mmap(nullptr, len, prot, MAP_SHARED | MAP_POPULATE, fd, offset);
    if (addr == MAP_FAILED) Fail(std::string("mmap of the ") + what + ": " + ErrnoText(errno));
    addr_ = addr;
    len_ = len;
  }
  uint8_t* data() const { return static_cast<uint8_t*>(addr_); }

 private:
  void* addr_ = nullptr;
  size_t len_ = 0;
};

}  // namespace

struct RingbufSource::Impl {
  LiveCaptureConfig config;
  std::vector<unsigned> ifindexes;
  ringbuf_loader::SkelPtr skel;
  std::vector<UniqueFd> sockets;
  UniqueFd wake;  // eventfd: Stop() makes a sleeping Next() return
  KernelCounters counters;
  size_t ncpus = 0;
  Mapping ring_consumer_page;
  Mapping ring_data;  // the producer page, then the data mapped twice
  RingReader ring;
  BootClock clock;
  std::unique_ptr<RecordAssembler> assembler;
  bool handed_out = false;  // the last segment points into the ring
  bool draining = false;
  std::atomic<bool> stop_requested{false};
  std::unique_ptr<TlsProbes> tls;  // null when --tls-plaintext off or the probes failed
  std::string tls_unavailable;     // why tls is null
  TlsPlaintextSink* tls_sink = nullptr;

  Counter records;
  Counter interface_rebinds;
  std::atomic<uint64_t> interfaces_missing{0};  // read by VisitStats on other threads
  std::vector<bool> rebind_failed;              // per -i interface: warned already
  int64_t next_interface_check_ns = 0;
  uint32_t nexts_since_interface_check = 0;

  void MaybeCheckInterfaces(bool ring_empty);
  void DrainTlsUpTo(uint64_t ts_ns) {
    if (tls) tls->Drain(tls_sink, ts_ns);
  }
  void CheckInterface(size_t i);
  void MapRing(int map_fd, size_t ring_size);
  void Consume();
  bool Produce(TcpSegment* seg);
  void Wait();
  void Detach();
  void OpenTls();
};

std::unique_ptr<RingbufSource> RingbufSource::Open(const LiveCaptureConfig& config) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  ringbuf_loader::ValidateRingSize(config.ring_size);
  if (config.ports.List().empty()) Fail("the SMTP port set is empty");
  impl->ifindexes = ringbuf_loader::ResolveInterfaces(config.interfaces);
  impl->rebind_failed.assign(impl->ifindexes.size(), false);
  ringbuf_loader::CheckPrivilegesAndKernel();
  const int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) Fail("cannot count the possible CPUs: " + ErrnoText(-ncpus));
  impl->ncpus = static_cast<size_t>(ncpus);
  impl->assembler = std::make_unique<RecordAssembler>(
      impl->ncpus, [clock = &impl->clock](uint64_t boot_ns) { return clock->ToEpoch(boot_ns); });
  impl->skel = ringbuf_loader::LoadProgram(config.ring_size, impl->ncpus);
  ringbuf_loader::FillPorts(*impl->skel, config.ports);

  impl->counters.Map(bpf_map__fd(impl->skel->maps.counters), impl->ncpus, sizeof(mailtap_counters),
                     "counter map");
  impl->MapRing(bpf_map__fd(impl->skel->maps.events), config.ring_size);
  impl->wake = UniqueFd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (impl->wake.get() < 0) Fail("eventfd: " + ErrnoText(errno));

  const int prog_fd = bpf_program__fd(impl->skel->progs.mailtap__filter);
  if (impl->ifindexes.empty()) {
    impl->sockets.push_back(ringbuf_loader::OpenPacketSocket(prog_fd, 0, "all interfaces", false));
  }
  const unsigned loopback = if_nametoindex("lo");
  for (size_t i = 0; i < impl->ifindexes.size(); ++i) {
    impl->sockets.push_back(ringbuf_loader::OpenPacketSocket(
        prog_fd, impl->ifindexes[i], config.interfaces[i], impl->ifindexes[i] == loopback));
  }
  impl->OpenTls();
  return std::unique_ptr<RingbufSource>(new RingbufSource(std::move(impl)));
}

// The TLS probes are an addition: without them the segments are analysed as before (up to
// STARTTLS), so a kernel that cannot run them costs a warning, not the agent.
void RingbufSource::Impl::OpenTls() {
  if (!config.tls.enabled) {
    tls_unavailable = "off (--tls-plaintext off)";
    return;
  }
  try {
    tls = TlsProbes::Open(config.tls, config.ports);
  } catch (const std::exception& e) {
    tls_unavailable = std::string("unavailable: ") + e.what();
    Log(Severity::kWarn, "TLS plaintext {}", tls_unavailable);
  }
}

RingbufSource::RingbufSource(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RingbufSource::~RingbufSource() = default;

// The kernel's ring layout (kernel/bpf/ringbuf.c): the consumer page, then the producer page
// followed by the data pages mapped twice, so that a record never wraps.
void RingbufSource::Impl::MapRing(int map_fd, size_t ring_size) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  ring_consumer_page.Map(map_fd, page, PROT_READ | PROT_WRITE, 0, "ring buffer consumer page");
  ring_data.Map(map_fd, page + 2 * ring_size, PROT_READ, static_cast<off_t>(page),
                "ring buffer data");
  ring = RingReader(RingView{reinterpret_cast<uint64_t*>(ring_consumer_page.data()),
                             reinterpret_cast<const uint64_t*>(ring_data.data()),
                             ring_data.data() + page, ring_size});
}

void RingbufSource::Impl::Consume() {
  ring.Consume();
  records.Add();
}

bool RingbufSource::Impl::Produce(TcpSegment* seg) {
  std::span<const uint8_t> record;
  while (ring.Peek(&record)) {
    switch (assembler->Offer(record, seg)) {
      case RecordAssembler::Outcome::kConsumed:
        Consume();
        break;
      case RecordAssembler::Outcome::kSegmentConsumed:
        Consume();
        return true;
      case RecordAssembler::Outcome::kSegmentInRecord:
        handed_out = true;  // consumed at the next Next()
        return true;
      case RecordAssembler::Outcome::kSegmentRecordKept:
        return true;
    }
  }
  return false;
}

// `-i NAME` binds a socket to NAME's index. A container restart deletes its veth and creates it
// again under the same name with a new index; the kernel unbinds the socket from the deleted
// device, and it would capture nothing from then on, silently. So every named interface is
// looked up again once a second (checked when the ring has been drained, or every 4096 segments
// under sustained load): gone -> warned and counted as missing; back, or replaced -> the socket
// is bound to the new index (binding needs no privilege) and capture resumes.
void RingbufSource::Impl::MaybeCheckInterfaces(bool ring_empty) {
  if (config.interfaces.empty() || draining) return;
  if (!ring_empty && ++nexts_since_interface_check < 4096) return;
  nexts_since_interface_check = 0;
  const int64_t now = Nanos(CLOCK_MONOTONIC);
  if (now < next_interface_check_ns) return;
  next_interface_check_ns = now + 1'000'000'000;
  uint64_t missing = 0;
  for (size_t i = 0; i < ifindexes.size(); ++i) {
    CheckInterface(i);
    if (ifindexes[i] == 0) ++missing;
  }
  interfaces_missing.store(missing, std::memory_order_relaxed);
}

void RingbufSource::Impl::CheckInterface(size_t i) {
  const std::string& name = config.interfaces[i];
  const unsigned index = if_nametoindex(name.c_str());
  if (index == ifindexes[i]) return;
  if (index == 0) {
    Log(Severity::kWarn,
        "interface {} is gone: nothing is captured on it until an interface of that name "
        "exists again",
        name);
    ifindexes[i] = 0;
    return;
  }
  if (!ringbuf_loader::BindToInterface(sockets[i].get(), index)) {
    if (!rebind_failed[i]) {
      Log(Severity::kWarn, "interface {} is back (index {}) but cannot be captured again: {}", name,
          index, ErrnoText(errno));
    }
    rebind_failed[i] = true;
    ifindexes[i] = 0;
    return;
  }
  Log(Severity::kInfo, "interface {} is back (index {}): capturing on it again", name, index);
  rebind_failed[i] = false;
  ifindexes[i] = index;
  interface_rebinds.Add();
}

void RingbufSource::Impl::Wait() {
  pollfd fds[3] = {{bpf_map__fd(skel->maps.events), POLLIN, 0},
                   {wake.get(), POLLIN, 0},
                   {tls ? tls->ring_fd() : -1, POLLIN, 0}};
  if (poll(fds, 3, kPollIntervalMs) < 0 && errno != EINTR) {
    // Cannot happen with valid fds; sleeping the interval keeps the caller from spinning.
    timespec ts{0, kPollIntervalMs * 1000000L};
    nanosleep(&ts, nullptr);
  }
}

// Closes the packet sockets: the filter runs no more, so the ring only drains from here on.
void RingbufSource::Impl::Detach() {
  sockets.clear();
  if (tls) tls->Detach();
  draining = true;
}

CaptureStatus RingbufSource::Next(TcpSegment* segment) {
  Impl& s = *impl_;
  if (s.handed_out) {
    s.handed_out = false;
    s.Consume();
  }
  if (s.stop_requested.load(std::memory_order_relaxed) && !s.draining) s.Detach();
  for (bool waited = false;; waited = true) {
    // The two rings are merged in capture order (both stamp CLOCK_BOOTTIME): before a segment,
    // only the plaintext captured before it; with the packet ring empty, all captured until now.
    // Draining the whole TLS ring before every segment let the plaintext of a session run ahead
    // of a packet backlog, past its STARTTLS reply, and overflow the router's hold buffer.
    const uint64_t now_ns = static_cast<uint64_t>(Nanos(CLOCK_BOOTTIME));
    if (s.Produce(segment)) {
      s.DrainTlsUpTo(s.assembler->last_segment_boot_ns());
      s.MaybeCheckInterfaces(/*ring_empty=*/false);
      return CaptureStatus::kSegment;
    }
    s.DrainTlsUpTo(s.draining ? UINT64_MAX : now_ns);
    if (s.draining) {
      if (s.assembler->FlushPartial(segment)) {
        s.DrainTlsUpTo(s.assembler->last_segment_boot_ns());
        return CaptureStatus::kSegment;
      }
      return CaptureStatus::kEndOfInput;
    }
    if (waited) {
      return s.assembler->FlushPartial(segment) ? CaptureStatus::kSegment : CaptureStatus::kTimeout;
    }
    s.MaybeCheckInterfaces(/*ring_empty=*/true);
    s.Wait();
    if (s.stop_requested.load(std::memory_order_relaxed)) s.Detach();
  }
}

void RingbufSource::Stop() {
  impl_->stop_requested.store(true, std::memory_order_relaxed);
  uint64_t one = 1;
  // Async-signal-safe; a full eventfd counter (cannot happen) still leaves it readable.
  [[maybe_unused]] ssize_t n = write(impl_->wake.get(), &one, sizeof one);
}

void RingbufSource::SetTlsPlaintextSink(TlsPlaintextSink* sink) { impl_->tls_sink = sink; }

bool RingbufSource::CapturesTlsPlaintext() const {
  return impl_->tls && !impl_->tls->attached().empty();
}

std::string RingbufSource::Describe() const {
  std::string out = "live: eBPF ring buffer on ";
  if (impl_->config.interfaces.empty()) out += "all interfaces";
  for (size_t i = 0; i < impl_->config.interfaces.size(); ++i) {
    if (i > 0) out += ", ";
    out += impl_->config.interfaces[i];
  }
  out += "; ";
  out += impl_->tls ? impl_->tls->Describe() : "TLS plaintext " + impl_->tls_unavailable;
  return out;
}

void RingbufSource::VisitStats(StatsVisitor& visitor) const {
  const Impl& s = *impl_;
  s.counters.Visit(visitor, "capture", kCounterInfo);
  visitor.Visit("capture", "records", s.records.Get(), "Ring buffer records read.");
  const RecordAssembler& a = *s.assembler;
  visitor.Visit("capture", "bytes", a.bytes().Get(), "Payload bytes read from the ring buffer.");
  visitor.Visit("capture", "segments", a.segments().Get(), "TCP segments handed to the pipeline.");
  visitor.Visit("capture", "segments_truncated", a.truncated_segments().Get(),
                "Segments handed out with less payload than on the wire.");
  visitor.Visit("capture", "ringbuf_orphan_chunks", a.orphan_chunks().Get(),
                "Chunk records whose packet's first chunk was lost.", StatKind::kCounter,
                Loss{"ringbuf_orphan_chunk", LossUnit::kRingRecords});
  visitor.Visit("capture", "ringbuf_bad_records", a.bad_records().Get(),
                "Malformed ring buffer records (a kernel/userspace mismatch).", StatKind::kCounter,
                Loss{"ringbuf_bad_record", LossUnit::kRingRecords});
  visitor.Visit("capture", "ring_size", s.config.ring_size, "Ring buffer size in bytes.",
                StatKind::kGauge);
  visitor.Visit("capture", "interfaces_missing",
                s.interfaces_missing.load(std::memory_order_relaxed),
                "Interfaces named with -i that do not exist now: nothing is captured on them.",
                StatKind::kGauge);
  visitor.Visit("capture", "interface_rebinds", s.interface_rebinds.Get(),
                "Times an interface named with -i came back (re-created, e.g. a container's veth) "
                "and the capture was bound to it again.");
  visitor.Visit("tls", "enabled", s.tls ? 1 : 0,
                "1 when the TLS probes are loaded (--tls-plaintext on and the kernel allows it).",
                StatKind::kGauge);
  if (s.tls) s.tls->VisitStats(visitor);
}

}  // namespace mailtap
