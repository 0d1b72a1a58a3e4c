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

#include "capture/privileges.h"
#include "common/log.h"
#include "mailtap.skel.h"
#include "mailtap/bpf_abi.h"

namespace mailtap {
namespace {

constexpr size_t kMaxRingSize = size_t{1} << 30;

// Names and help of the kernel counters, indexed by enum mailtap_counter.
struct CounterInfo {
  const char* name;
  const char* help;
  const char* loss_cause;
};
constexpr CounterInfo kCounterInfo[MAILTAP_CTR__COUNT] = {
    {"kernel_packets_seen", "Packets the socket filter ran on.", ""},
    {"kernel_loopback_tx_skipped", "Loopback transmit copies skipped (captured when received).",
     ""},
    {"kernel_non_ip", "Packets that are neither IPv4 nor IPv6.", ""},
    {"kernel_bad_ip_header", "Packets with an unreadable or inconsistent IP header.", ""},
    {"kernel_fragments", "IP fragments (not reassembled by the filter).", ""},
    {"kernel_not_tcp", "IP packets that are not TCP.", ""},
    {"kernel_bad_tcp_header", "TCP segments with an unreadable or inconsistent header.", ""},
    {"kernel_port_mismatch", "TCP segments on no SMTP port.", ""},
    {"kernel_matched", "TCP segments on an SMTP port.", ""},
    {"kernel_matched_bytes", "TCP payload bytes on the wire of matched segments.", ""},
    {"kernel_records", "Ring buffer records submitted.", ""},
    {"kernel_record_bytes", "Payload bytes copied into the ring buffer.", ""},
    {"kernel_ringbuf_full", "Segments not copied in full because the ring buffer was full.",
     "kernel_ringbuf_full"},
    {"kernel_ringbuf_full_bytes", "Payload bytes lost because the ring buffer was full.", ""},
    {"kernel_ringbuf_lost_packets",
     "Segments lost to a full ring buffer without even a loss marker.", ""},
    {"kernel_truncated", "Segments whose payload exceeds what the filter copies.",
     "kernel_truncated"},
    {"kernel_truncated_bytes", "Payload bytes not copied because of truncation.", ""},
    {"kernel_unknown_link", "Segments whose link-layer header length was not recognised.", ""},
    {"kernel_load_failed", "Segments whose payload could not be read from the packet.",
     "kernel_load_failed"},
};

[[noreturn]] void Fail(const std::string& message) { throw std::runtime_error(message); }

std::string ErrnoText(int err) { return std::strerror(err); }

// Owns a file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(other.Release()) {}
  Fd& operator=(Fd&& other) noexcept {
    Reset(other.Release());
    return *this;
  }
  ~Fd() { Reset(-1); }
  int get() const { return fd_; }
  int Release() { return std::exchange(fd_, -1); }
  void Reset(int fd) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

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

struct SkelDeleter {
  void operator()(mailtap_bpf* skel) const { mailtap_bpf__destroy(skel); }
};
using SkelPtr = std::unique_ptr<mailtap_bpf, SkelDeleter>;

// Collects libbpf's messages while Open() runs, so that a failed load reports the verifier's
// log in the exception instead of on stderr. Start-up only, single-threaded.
class LibbpfLog {
 public:
  LibbpfLog() : previous_(libbpf_set_print(&LibbpfLog::Print)) { Text().clear(); }
  ~LibbpfLog() { libbpf_set_print(previous_); }
  // The last `max` characters: the verifier states the reason at the end.
  static std::string Tail(size_t max = 3000) {
    const std::string& t = Text();
    return t.size() > max ? "..." + t.substr(t.size() - max) : t;
  }

 private:
  static std::string& Text() {
    static std::string text;
    return text;
  }
  static int Print(libbpf_print_level level, const char* format, va_list args) {
    if (level == LIBBPF_DEBUG) return 0;
    va_list copy;
    va_copy(copy, args);
    int n = std::vsnprintf(nullptr, 0, format, copy);
    va_end(copy);
    if (n <= 0) return n;
    // The verifier log arrives as one message of up to megabytes; its reason is at the end.
    std::string text(static_cast<size_t>(n) + 1, '\0');
    std::vsnprintf(text.data(), text.size(), format, args);
    text.pop_back();
    std::string& all = Text();
    all += text;
    if (all.size() > (size_t{1} << 16)) all.erase(0, all.size() - (size_t{1} << 15));
    return n;
  }
  libbpf_print_fn_t previous_;
};

// Reads records from a BPF ring buffer through its shared mapping (the protocol of
// kernel/bpf/ringbuf.c: an 8-byte header per record, busy/discard bits, both positions as
// free-running counters, data pages mapped twice so a record never wraps). Unlike libbpf's
// ring_buffer__consume, a record stays in the ring until Consume(): segments are handed out
// without copying.
class RingReader {
 public:
  void Map(int map_fd, size_t ring_size) {
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    consumer_.Map(map_fd, page, PROT_READ | PROT_WRITE, 0, "ring buffer consumer page");
    producer_.Map(map_fd, page + 2 * ring_size, PROT_READ, static_cast<off_t>(page),
                  "ring buffer data");
    data_ = producer_.data() + page;
    mask_ = ring_size - 1;
    pos_ = Load(consumer_.data());
  }

  // The oldest committed record not yet consumed; false when there is none (or the oldest is
  // still being written).
  bool Peek(std::span<const uint8_t>* record) {
    const uint64_t produced = Load(producer_.data());
    while (pos_ < produced) {
      const uint8_t* at = data_ + (pos_ & mask_);
      const uint32_t len = __atomic_load_n(reinterpret_cast<const uint32_t*>(at), __ATOMIC_ACQUIRE);
      if (len & BPF_RINGBUF_BUSY_BIT) return false;
      const uint32_t data_len = len & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
      current_ = (uint64_t{data_len} + BPF_RINGBUF_HDR_SZ + 7) & ~uint64_t{7};
      if ((len & BPF_RINGBUF_DISCARD_BIT) == 0) {
        *record = std::span<const uint8_t>(at + BPF_RINGBUF_HDR_SZ, data_len);
        return true;
      }
      Consume();
    }
    return false;
  }

  // Gives the record returned by the last Peek() back to the kernel.
  void Consume() {
    pos_ += current_;
    current_ = 0;
    __atomic_store_n(reinterpret_cast<uint64_t*>(consumer_.data()), pos_, __ATOMIC_RELEASE);
  }

 private:
  static uint64_t Load(const uint8_t* page) {
    return __atomic_load_n(reinterpret_cast<const uint64_t*>(page), __ATOMIC_ACQUIRE);
  }
  Mapping consumer_;
  Mapping producer_;
  const uint8_t* data_ = nullptr;
  uint64_t mask_ = 0;
  uint64_t pos_ = 0;
  uint64_t current_ = 0;
};

int64_t Nanos(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// Converts the filter's CLOCK_BOOTTIME stamps to the epoch. The offset is re-measured once a
// second of packet time so that clock steps (NTP, settimeofday) are followed.
class BootClock {
 public:
  Timestamp ToEpoch(uint64_t boot_ns) {
    const int64_t ns = static_cast<int64_t>(boot_ns);
    if (ns - calibrated_at_ > 1000000000 || ns < calibrated_at_) Calibrate();
    return Timestamp{(ns + offset_) / 1000};
  }

 private:
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

// A packet whose payload arrives in several chunk records, one per CPU at a time.
struct Partial {
  bool active = false;
  mailtap_rec_hdr hdr{};
  std::vector<uint8_t> bytes;  // at most MAILTAP_MAX_COPY
};

void FillSegment(const mailtap_rec_hdr& h, std::span<const uint8_t> payload, BootClock& clock,
                 TcpSegment* seg) {
  seg->ts = clock.ToEpoch(h.ts_ns);
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
}

}  // namespace

struct RingbufSource::Impl {
  LiveCaptureConfig config;
  std::vector<unsigned> ifindexes;
  SkelPtr skel;
  std::vector<Fd> sockets;
  Fd wake;  // eventfd: Stop() makes a sleeping Next() return
  Mapping counters;
  size_t ncpus = 0;
  size_t counter_stride = 0;
  RingReader ring;
  BootClock clock;
  std::vector<Partial> partials;  // indexed by CPU
  bool handed_out = false;        // the last segment points into the ring
  uint64_t segment_ts_ns = 0;     // capture time (CLOCK_BOOTTIME) of the last segment filled
  bool draining = false;
  std::atomic<bool> stop_requested{false};
  std::unique_ptr<TlsProbes> tls;  // null when --tls-plaintext off or the probes failed
  std::string tls_unavailable;     // why tls is null
  TlsPlaintextSink* tls_sink = nullptr;

  Counter records, bytes, segments, truncated_segments, orphan_chunks, bad_records;
  Counter interface_rebinds;
  std::atomic<uint64_t> interfaces_missing{0};  // read by VisitStats on other threads
  std::vector<bool> rebind_failed;              // per -i interface: warned already
  int64_t next_interface_check_ns = 0;
  uint32_t nexts_since_interface_check = 0;

  uint64_t KernelCounter(size_t index) const;
  void MaybeCheckInterfaces(bool ring_empty);
  void DrainTlsUpTo(uint64_t ts_ns) {
    if (tls) tls->Drain(tls_sink, ts_ns);
  }
  void CheckInterface(size_t i);
  void Consume();
  bool Produce(TcpSegment* seg);
  bool Accept(const mailtap_rec_hdr& h, std::span<const uint8_t> payload, TcpSegment* seg);
  bool FlushPartial(TcpSegment* seg);
  void EmitPartial(Partial& p, TcpSegment* seg);
  void Wait();
  void Detach();
  void OpenTls();
};

namespace {

void ValidateRingSize(size_t size) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  if (size < page || size > kMaxRingSize || (size & (size - 1)) != 0) {
    Fail("--ring-size " + std::to_string(size) + " is invalid: it must be a power of two between " +
         std::to_string(page) + " (the page size) and " + std::to_string(kMaxRingSize));
  }
}

std::vector<unsigned> ResolveInterfaces(const std::vector<std::string>& names) {
  std::vector<unsigned> out;
  for (const std::string& name : names) {
    unsigned index = if_nametoindex(name.c_str());
    if (index == 0) Fail("unknown interface '" + name + "' (see `ip link`)");
    out.push_back(index);
  }
  return out;
}

std::string KernelRelease() {
  utsname u{};
  uname(&u);
  return u.release;
}

void CheckPrivilegesAndKernel() {
  std::string missing = MissingCaptureCapabilities();
  if (!missing.empty()) Fail(missing);
  int ok = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr);
  if (ok == 0) {
    Fail("this kernel (" + KernelRelease() +
         ") has no BPF ring buffer (BPF_MAP_TYPE_RINGBUF, Linux 5.8 or later); live capture "
         "cannot run here, use -r to replay pcap files");
  }
  if (ok < 0) {
    Fail("cannot probe the kernel's BPF support: " + ErrnoText(-ok) +
         (ok == -EPERM ? " (needs CAP_BPF, or CAP_SYS_ADMIN before Linux 5.8)" : ""));
  }
}

SkelPtr LoadProgram(size_t ring_size, size_t ncpus) {
  LibbpfLog log;
  SkelPtr skel(mailtap_bpf__open());
  if (!skel) Fail("cannot open the eBPF object: " + ErrnoText(errno) + "\n" + LibbpfLog::Tail());
  int err = bpf_map__set_max_entries(skel->maps.events, static_cast<uint32_t>(ring_size));
  if (err == 0) {
    err = bpf_map__set_max_entries(skel->maps.counters,
                                   static_cast<uint32_t>(ncpus * MAILTAP_CTR_SLOTS));
  }
  if (err != 0) Fail("cannot size the eBPF maps: " + ErrnoText(-err));
  skel->rodata->wakeup_bytes = ring_size / 4;
  unsigned lo = if_nametoindex("lo");
  skel->rodata->loopback_ifindex = lo != 0 ? lo : 1;
  err = mailtap_bpf__load(skel.get());
  if (err != 0) {
    const int e = -err;
    Fail("cannot load the eBPF program into kernel " + KernelRelease() + ": " + ErrnoText(e) +
         (e == EPERM || e == EACCES
              ? " (needs CAP_BPF and CAP_PERFMON, or CAP_SYS_ADMIN before Linux 5.8)"
              : "") +
         "\n" + LibbpfLog::Tail());
  }
  return skel;
}

void FillPorts(const mailtap_bpf& skel, const PortSet& ports) {
  mailtap_port_bitmap bitmap{};
  for (uint16_t p : ports.List()) bitmap.bits[p >> 3] |= static_cast<uint8_t>(1u << (p & 7));
  uint32_t zero = 0;
  int err = bpf_map__update_elem(skel.maps.ports, &zero, sizeof zero, &bitmap, sizeof bitmap, 0);
  if (err != 0) Fail("cannot fill the port map: " + ErrnoText(-err));
}

// Every protocol on `ifindex` (0 = every interface). False with errno set on failure.
bool BindToInterface(int fd, unsigned ifindex) {
  sockaddr_ll addr{};
  addr.sll_family = AF_PACKET;
  addr.sll_protocol = htons(ETH_P_ALL);
  addr.sll_ifindex = static_cast<int>(ifindex);
  return bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

// Opens a packet socket that sees nothing until bound (protocol 0), attaches the filter, then
// binds it to ETH_P_ALL: no packet is ever queued unfiltered. ifindex 0 = every interface,
// present and future.
//
// On loopback every packet is transmitted and then received: a socket bound to it skips the
// transmit copy in the kernel (PACKET_IGNORE_OUTGOING, Linux 4.20), which spares the skb clone
// and the filter run the eBPF program would otherwise spend on discarding it. (A socket on
// every interface cannot: it needs the other interfaces' transmitted packets, so there the
// program discards loopback's copy itself.)
Fd OpenPacketSocket(int prog_fd, unsigned ifindex, const std::string& name, bool loopback) {
  Fd fd(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    const int e = errno;
    Fail("cannot open an AF_PACKET socket: " + ErrnoText(e) +
         (e == EPERM ? " (needs CAP_NET_RAW)" : ""));
  }
  if (setsockopt(fd.get(), SOL_SOCKET, SO_ATTACH_BPF, &prog_fd, sizeof prog_fd) != 0) {
    Fail("cannot attach the eBPF filter (SO_ATTACH_BPF): " + ErrnoText(errno));
  }
  const int one = 1;
  if (loopback && setsockopt(fd.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) != 0) {
    // Older kernels: the eBPF program discards the transmit copy instead, at a small cost.
    Log(Severity::kInfo,
        "PACKET_IGNORE_OUTGOING unavailable on {} ({}): loopback's transmit copies are filtered",
        name, ErrnoText(errno));
  }
  if (!BindToInterface(fd.get(), ifindex)) {
    Fail("cannot bind the packet socket to " + name + ": " + ErrnoText(errno));
  }
  return fd;
}

}  // namespace

// The TLS probes are an addition: without them the segments are analysed as before (up to
// STARTTLS), so a kernel that cannot run them costs a warning, not the agent.

std::unique_ptr<RingbufSource> RingbufSource::Open(const LiveCaptureConfig& config) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  ValidateRingSize(config.ring_size);
  if (config.ports.List().empty()) Fail("the SMTP port set is empty");
  impl->ifindexes = ResolveInterfaces(config.interfaces);
  impl->rebind_failed.assign(impl->ifindexes.size(), false);
  CheckPrivilegesAndKernel();
  const int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) Fail("cannot count the possible CPUs: " + ErrnoText(-ncpus));
  impl->ncpus = static_cast<size_t>(ncpus);
  impl->partials.resize(impl->ncpus);
  impl->skel = LoadProgram(config.ring_size, impl->ncpus);
  FillPorts(*impl->skel, config.ports);

  impl->counter_stride = sizeof(mailtap_counters);
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const size_t counters_len = (impl->counter_stride * impl->ncpus + page - 1) / page * page;
  impl->counters.Map(bpf_map__fd(impl->skel->maps.counters), counters_len, PROT_READ, 0,
                     "counter map");
  impl->ring.Map(bpf_map__fd(impl->skel->maps.events), config.ring_size);
  impl->wake = Fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (impl->wake.get() < 0) Fail("eventfd: " + ErrnoText(errno));

  const int prog_fd = bpf_program__fd(impl->skel->progs.mailtap__filter);
  if (impl->ifindexes.empty()) {
    impl->sockets.push_back(OpenPacketSocket(prog_fd, 0, "all interfaces", false));
  }
  const unsigned loopback = if_nametoindex("lo");
  for (size_t i = 0; i < impl->ifindexes.size(); ++i) {
    impl->sockets.push_back(OpenPacketSocket(prog_fd, impl->ifindexes[i], config.interfaces[i],
                                             impl->ifindexes[i] == loopback));
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

uint64_t RingbufSource::Impl::KernelCounter(size_t index) const {
  uint64_t sum = 0;
  for (size_t cpu = 0; cpu < ncpus; ++cpu) {
    const auto* c =
        reinterpret_cast<const mailtap_counters*>(counters.data() + cpu * counter_stride);
    sum += __atomic_load_n(&c->v[index], __ATOMIC_RELAXED);
  }
  return sum;
}

void RingbufSource::Impl::Consume() {
  ring.Consume();
  records.Add();
}

// The partial packet of a CPU whose remaining chunks will not come: handed out as a segment
// with payload_wire_len > payload.size(), so the reassembler reports the gap.
void RingbufSource::Impl::EmitPartial(Partial& p, TcpSegment* seg) {
  p.active = false;
  FillSegment(p.hdr, p.bytes, clock, seg);
  segment_ts_ns = p.hdr.ts_ns;
  segments.Add();
  if (seg->payload.size() < seg->payload_wire_len) truncated_segments.Add();
}

// Chunk protocol (bpf_abi.h): FIRST starts a packet, LAST ends it; chunks of one packet come
// from one CPU, in order, with the same pkt_id. Returns true when *seg was filled.
bool RingbufSource::Impl::Accept(const mailtap_rec_hdr& h, std::span<const uint8_t> payload,
                                 TcpSegment* seg) {
  Partial& p = partials[h.cpu];
  if (h.rec_flags & MAILTAP_REC_FIRST) {
    if (p.active) {  // its LAST never came: hand it out first, this record stays in the ring
      EmitPartial(p, seg);
      return true;
    }
    if (h.rec_flags & MAILTAP_REC_LAST) {  // the common case: one record, no copy
      FillSegment(h, payload, clock, seg);
      segment_ts_ns = h.ts_ns;
      bytes.Add(payload.size());
      segments.Add();
      if (payload.size() < h.wire_len) truncated_segments.Add();
      handed_out = true;
      return true;
    }
    p.active = true;
    p.hdr = h;
    p.bytes.assign(payload.begin(), payload.end());
    bytes.Add(payload.size());
    Consume();
    return false;
  }
  if (!p.active || p.hdr.pkt_id != h.pkt_id || h.offset != p.bytes.size() ||
      p.bytes.size() + payload.size() > MAILTAP_MAX_COPY) {
    orphan_chunks.Add();
    Consume();
    return false;
  }
  p.bytes.insert(p.bytes.end(), payload.begin(), payload.end());
  bytes.Add(payload.size());
  p.hdr.rec_flags |= h.rec_flags;
  Consume();
  if ((h.rec_flags & MAILTAP_REC_LAST) == 0) return false;
  EmitPartial(p, seg);
  return true;
}

bool RingbufSource::Impl::Produce(TcpSegment* seg) {
  std::span<const uint8_t> record;
  while (ring.Peek(&record)) {
    mailtap_rec_hdr h;
    if (record.size() < sizeof h) {
      bad_records.Add();
      Consume();
      continue;
    }
    std::memcpy(&h, record.data(), sizeof h);
    if (h.chunk_len > record.size() - sizeof h || h.cpu >= ncpus ||
        (h.ip_version != 4 && h.ip_version != 6)) {
      bad_records.Add();
      Consume();
      continue;
    }
    if (Accept(h, record.subspan(sizeof h, h.chunk_len), seg)) return true;
  }
  return false;
}

// Called only when the ring is empty: a partial packet's missing chunks are not coming.
bool RingbufSource::Impl::FlushPartial(TcpSegment* seg) {
  for (Partial& p : partials) {
    if (p.active) {
      EmitPartial(p, seg);
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
  if (!BindToInterface(sockets[i].get(), index)) {
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
      s.DrainTlsUpTo(s.segment_ts_ns);
      s.MaybeCheckInterfaces(/*ring_empty=*/false);
      return CaptureStatus::kSegment;
    }
    s.DrainTlsUpTo(s.draining ? UINT64_MAX : now_ns);
    if (s.draining) {
      if (s.FlushPartial(segment)) {
        s.DrainTlsUpTo(s.segment_ts_ns);
        return CaptureStatus::kSegment;
      }
      return CaptureStatus::kEndOfInput;
    }
    if (waited) {
      return s.FlushPartial(segment) ? CaptureStatus::kSegment : CaptureStatus::kTimeout;
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
  for (size_t i = 0; i < MAILTAP_CTR__COUNT; ++i) {
    const CounterInfo& c = kCounterInfo[i];
    visitor.Visit("capture", c.name, s.KernelCounter(i), c.help, StatKind::kCounter, c.loss_cause);
  }
  visitor.Visit("capture", "records", s.records.Get(), "Ring buffer records read.");
  visitor.Visit("capture", "bytes", s.bytes.Get(), "Payload bytes read from the ring buffer.");
  visitor.Visit("capture", "segments", s.segments.Get(), "TCP segments handed to the pipeline.");
  visitor.Visit("capture", "segments_truncated", s.truncated_segments.Get(),
                "Segments handed out with less payload than on the wire.");
  visitor.Visit("capture", "ringbuf_orphan_chunks", s.orphan_chunks.Get(),
                "Chunk records whose packet's first chunk was lost.", StatKind::kCounter,
                "ringbuf_orphan_chunk");
  visitor.Visit("capture", "ringbuf_bad_records", s.bad_records.Get(),
                "Malformed ring buffer records (a kernel/userspace mismatch).", StatKind::kCounter,
                "ringbuf_bad_record");
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
