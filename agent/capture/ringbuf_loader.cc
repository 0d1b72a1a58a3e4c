#include "capture/ringbuf_loader.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <stdexcept>

#include "capture/privileges.h"
#include "common/log.h"
#include "mailtap/bpf_abi.h"

namespace mailtap::ringbuf_loader {

void Fail(const std::string& message) { throw std::runtime_error(message); }

std::string ErrnoText(int err) { return std::strerror(err); }

namespace {

constexpr size_t kMaxRingSize = size_t{1} << 30;

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

std::string KernelRelease() {
  utsname u{};
  uname(&u);
  return u.release;
}

}  // namespace

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
UniqueFd OpenPacketSocket(int prog_fd, unsigned ifindex, const std::string& name, bool loopback) {
  UniqueFd fd(socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0));
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

}  // namespace mailtap::ringbuf_loader
