#include "capture/tls_probes.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <utility>

#include "capture/boot_clock.h"
#include "capture/kernel_counters.h"
#include "capture/tls_entry_points.h"
#include "capture/tls_library_watcher.h"
#include "capture/tls_record_assembler.h"
#include "common/log.h"
#include "mailtap/bpf_tls_abi.h"
#include "tls.skel.h"

namespace mailtap {
namespace {

// Indexed by enum mailtap_tls_counter.
constexpr KernelCounterInfo kTlsCounterInfo[MAILTAP_TLS_CTR__COUNT] = {
    {"kernel_tls_calls", "TLS library calls entered by a watched process.", {}},
    {"kernel_tls_other_process_calls", "TLS library calls of processes not watched (ignored).", {}},
    {"kernel_tls_failed_calls", "TLS calls that moved no data (would block, error, close).", {}},
    {"kernel_tls_calls_with_data", "TLS calls that returned or wrote plaintext.", {}},
    {"kernel_tls_data_bytes", "Plaintext bytes those calls moved.", {}},
    {"kernel_tls_socket_seen",
     "TLS calls tied to their connection by their own TCP operation.",
     {}},
    {"kernel_tls_session_cache_hits",
     "TLS calls tied to their connection by an earlier call of the same session.",
     {}},
    {"kernel_tls_not_smtp", "TLS calls with data on a connection on no SMTP port (ignored).", {}},
    {"kernel_tls_unmatched", "TLS calls with data that could not be tied to a connection.", {}},
    {"kernel_tls_unmatched_bytes",
     "Plaintext bytes lost that way.",
     {"tls_unmatched", LossUnit::kBytes}},
    {"kernel_tls_records", "TLS ring records submitted.", {}},
    {"kernel_tls_record_bytes", "Plaintext bytes copied into the TLS ring.", {}},
    {"kernel_tls_ringbuf_full",
     "TLS calls not copied in full because the TLS ring was full.",
     {"tls_ringbuf_full", LossUnit::kTlsCalls}},
    {"kernel_tls_ringbuf_full_bytes", "Plaintext bytes lost because the TLS ring was full.", {}},
    {"kernel_tls_ringbuf_lost_calls",
     "TLS calls lost to a full ring without even a loss marker.",
     {}},
    {"kernel_tls_truncated", "TLS calls longer than the per-call copy limit.", {}},
    {"kernel_tls_truncated_bytes", "Plaintext bytes past the copy limit (not copied).", {}},
    {"kernel_tls_read_failed",
     "TLS calls whose buffer could not be read from the process.",
     {"tls_read_failed", LossUnit::kTlsCalls}},
    {"kernel_tls_read_failed_bytes", "Plaintext bytes lost that way.", {}},
    {"kernel_tls_no_entry", "TLS call returns without a recorded entry (attached mid-call).",
     "tls_no_entry"},
    {"kernel_tls_inflight_full", "TLS calls not followed because the in-flight map was full.",
     "tls_inflight_full"},
    {"kernel_tls_socket_owners",
     "Socket-owner records submitted (accept/connect on SMTP ports).",
     {}},
    {"kernel_tls_socket_owners_lost", "Socket-owner records the TLS ring had no room for.",
     "tls_socket_owner_lost"},
    {"kernel_tls_uncork_resends",
     "GnuTLS sends made by gnutls_record_uncork: bytes reported when they were corked, not again.",
     {}},
};

[[noreturn]] void Fail(const std::string& message) { throw std::runtime_error(message); }

struct SkelDeleter {
  void operator()(tls_bpf* skel) const { tls_bpf__destroy(skel); }
};
using SkelPtr = std::unique_ptr<tls_bpf, SkelDeleter>;

struct LinkDeleter {
  void operator()(bpf_link* link) const { bpf_link__destroy(link); }
};
using LinkPtr = std::unique_ptr<bpf_link, LinkDeleter>;

struct RingDeleter {
  void operator()(ring_buffer* ring) const { ring_buffer__free(ring); }
};

// A function probed and its entry and return programs: by name, or at a file offset.
struct ProbedFunction {
  std::string name;
  bpf_program* entry;
  bpf_program* exit;
  std::optional<uint64_t> offset;
};

// OpenSSL's read (or write) pair: the internal function both forms call when it can be found
// (one trap per call instead of a trap and a single-step; see tls_entry_points.h), else the two
// exported functions. `notes` gets a line for Describe() and the log.
void AddOpenSslPair(tls_bpf& skel, const TlsLibraryFile& file, const char* plain, const char* ex,
                    bpf_program* ex_entry, bpf_program* plain_entry,
                    std::vector<ProbedFunction>& out, std::string& notes) {
  const SharedCallee shared = FindSharedCalleeInFile(file.open_path, plain, ex);
  if (!notes.empty()) notes += "; ";
  if (shared.file_offset) {
    // The internal function has the _ex form's arguments: (SSL *, buf, num, size_t *count).
    out.push_back({std::string("the function shared by ") + plain + " and " + ex, ex_entry,
                   skel.progs.tls__ret, shared.file_offset});
    notes += std::string(plain) + "/" + ex + " at their shared function";
    return;
  }
  out.push_back({plain, plain_entry, skel.progs.tls__ret, std::nullopt});
  out.push_back({ex, ex_entry, skel.progs.tls__ret, std::nullopt});
  notes += std::string(plain) + "/" + ex + " by name (" + shared.reason + ")";
}

// The functions probed per library kind (tls__ret is the return of every data call).
std::vector<ProbedFunction> EntryPrograms(tls_bpf& skel, const TlsLibraryFile& file,
                                          std::string& notes) {
  if (file.kind == TlsLibraryKind::kGnuTls30) {
    notes = "by name";
    return {{"gnutls_record_recv", skel.progs.tls__gnutls_recv, skel.progs.tls__ret, {}},
            {"gnutls_record_send", skel.progs.tls__gnutls_send, skel.progs.tls__ret, {}},
            {"gnutls_record_uncork",
             skel.progs.tls__gnutls_uncork,
             skel.progs.tls__gnutls_uncork_ret,
             {}}};
  }
  std::vector<ProbedFunction> out;
  AddOpenSslPair(skel, file, "SSL_read", "SSL_read_ex", skel.progs.tls__ssl_read_ex,
                 skel.progs.tls__ssl_read, out, notes);
  AddOpenSslPair(skel, file, "SSL_write", "SSL_write_ex", skel.progs.tls__ssl_write_ex,
                 skel.progs.tls__ssl_write, out, notes);
  return out;
}

}  // namespace

struct TlsProbes::Impl {
  TlsCaptureConfig config;
  SkelPtr skel;
  std::vector<LinkPtr> kernel_links;
  const char* socket_hooks = "";
  std::vector<LinkPtr> library_links;
  std::vector<AttachedTlsLibrary> attached;
  std::vector<SkippedTlsLibrary> skipped;
  std::unique_ptr<ring_buffer, RingDeleter> ring;
  KernelCounters counters;
  size_t ncpus = 0;
  BootClock clock;
  std::unique_ptr<TlsRecordAssembler> assembler;
  TlsPlaintextSink* draining_to = nullptr;  // the sink of the Drain() in progress
  uint64_t drain_limit_ns = UINT64_MAX;     // the limit of the Drain() in progress
  size_t drained = 0;                       // records handed over by the Drain() in progress
  std::vector<uint8_t> set_aside;           // the first record past a Drain()'s limit
  bool has_set_aside = false;
  std::unique_ptr<TlsLibraryWatcher> watcher;  // null: no watcher (capture thread only)
  std::atomic<bool> watcher_running{false};    // for VisitStats on other threads
  // Guards attached, skipped and libraries_probed_later once the watcher runs: the capture
  // thread adds what it reports while VisitStats and Describe read them on other threads.
  mutable std::mutex libraries_mutex;
  uint64_t libraries_probed_later = 0;
  std::chrono::steady_clock::time_point next_watch_poll;
  static constexpr int kStopDrain = -1;

  ~Impl() {
    watcher.reset();
    library_links.clear();
    kernel_links.clear();
  }
  void Load(const PortSet& ports);
  void ChooseSocketHooks();
  void AttachKernel();
  void AttachLibrary(const TlsLibraryFile& file);
  TlsWatchReport AttachLibraryInWatcher(const TlsLibraryFile& file);
  void StartWatcher(const TlsLibraryScanConfig& scan_config, const TlsLibraryScan& scan);
  void PollWatcher();
  static int OnRecord(void* ctx, void* data, size_t size);
};

void TlsProbes::Impl::Load(const PortSet& ports) {
  skel.reset(tls_bpf__open());
  if (!skel) Fail(std::string("cannot open the TLS probes' eBPF object: ") + strerror(errno));
  int err =
      bpf_map__set_max_entries(skel->maps.tls_events, static_cast<uint32_t>(config.ring_size));
  if (err == 0) {
    err = bpf_map__set_max_entries(skel->maps.tls_counters,
                                   static_cast<uint32_t>(ncpus * MAILTAP_TLS_CTR_SLOTS));
  }
  if (err != 0) Fail(std::string("cannot size the TLS probes' maps: ") + strerror(-err));
  ChooseSocketHooks();
  skel->rodata->tls_max_copy = config.max_copy;
  skel->rodata->tls_wakeup_bytes = config.ring_size / 4;
  err = tls_bpf__load(skel.get());
  if (err != 0) {
    Fail(std::string("cannot load the TLS probes into the kernel: ") + strerror(-err) +
         " (needs BTF, /sys/kernel/btf/vmlinux, and CAP_BPF with CAP_PERFMON)");
  }
  uint8_t bitmap[65536 / 8] = {};  // struct tls_port_bitmap of tls_maps.h
  for (uint16_t p : ports.List()) bitmap[p >> 3] |= static_cast<uint8_t>(1u << (p & 7));
  uint32_t zero = 0;
  err = bpf_map__update_elem(skel->maps.tls_ports, &zero, sizeof zero, &bitmap, sizeof bitmap, 0);
  for (const std::string& name : config.process_names) {
    if (err != 0) break;
    mailtap_tls_comm key{};
    std::strncpy(key.name, name.c_str(), sizeof key.name - 1);
    uint8_t one = 1;
    err = bpf_map__update_elem(skel->maps.tls_comms, &key, sizeof key, &one, sizeof one, 0);
  }
  if (err != 0) Fail(std::string("cannot fill the TLS probes' maps: ") + strerror(-err));
}

// The socket tracepoints sock_send_length/sock_recv_length (Linux 6.3) where the kernel has
// them, else kprobes on tcp_sendmsg/tcp_recvmsg: only one pair is loaded.
void TlsProbes::Impl::ChooseSocketHooks() {
  btf* vmlinux = btf__load_vmlinux_btf();
  const bool have_tracepoints =
      vmlinux != nullptr &&
      btf__find_by_name_kind(vmlinux, "btf_trace_sock_send_length", BTF_KIND_TYPEDEF) > 0 &&
      btf__find_by_name_kind(vmlinux, "btf_trace_sock_recv_length", BTF_KIND_TYPEDEF) > 0;
  btf__free(vmlinux);
  socket_hooks = have_tracepoints ? "tracepoints sock_send_length/sock_recv_length"
                                  : "kprobes tcp_sendmsg/tcp_recvmsg";
  bpf_program__set_autoload(skel->progs.tls__sock_send, have_tracepoints);
  bpf_program__set_autoload(skel->progs.tls__sock_recv, have_tracepoints);
  bpf_program__set_autoload(skel->progs.tls__tcp_sendmsg, !have_tracepoints);
  bpf_program__set_autoload(skel->progs.tls__tcp_recvmsg, !have_tracepoints);
}

// The socket hooks: tie calls to connections, report socket owners.
void TlsProbes::Impl::AttachKernel() {
  for (bpf_program* prog : {skel->progs.tls__sock_send, skel->progs.tls__sock_recv,
                            skel->progs.tls__tcp_sendmsg, skel->progs.tls__tcp_recvmsg}) {
    if (!bpf_program__autoload(prog)) continue;
    LinkPtr link(bpf_program__attach(prog));
    if (!link) {
      Fail(std::string("cannot attach ") + bpf_program__name(prog) + ": " + strerror(errno) +
           " (needs CAP_BPF and CAP_PERFMON; before Linux 6.3 also kprobes, CONFIG_KPROBES)");
    }
    kernel_links.push_back(std::move(link));
  }
}

// Entry and return probe on every function of the library that it exports; a library where
// none attaches is skipped with the first error.
void TlsProbes::Impl::AttachLibrary(const TlsLibraryFile& file) {
  AttachedTlsLibrary lib{file, 0, ""};
  std::string first_error;
  for (const ProbedFunction& f : EntryPrograms(*skel, file, lib.entry_points)) {
    for (bool retprobe : {false, true}) {
      LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = retprobe,
                  .func_name = f.offset ? nullptr : f.name.c_str());
      bpf_program* prog = retprobe ? f.exit : f.entry;
      LinkPtr link(bpf_program__attach_uprobe_opts(prog, -1, file.open_path.c_str(),
                                                   f.offset.value_or(0), &opts));
      if (!link) {
        if (first_error.empty()) first_error = f.name + ": " + strerror(errno);
        continue;
      }
      library_links.push_back(std::move(link));
      ++lib.probes;
    }
  }
  if (lib.probes == 0) {
    skipped.push_back({file.path, file.found_by, "cannot attach uprobes (" + first_error + ")"});
    Log(Severity::kWarn, "TLS plaintext: {} ({}) not probed: {}", file.path, file.found_by,
        skipped.back().reason);
    return;
  }
  Log(Severity::kInfo, "TLS plaintext: probing {} ({}, inode {}, {} probes: {}; found by {})",
      file.path, TlsLibraryKindName(file.kind), file.ino, lib.probes, lib.entry_points,
      file.found_by);
  attached.push_back(std::move(lib));
}

// Runs in the watcher: AttachLibrary, its outcome as a report for the agent.
TlsWatchReport TlsProbes::Impl::AttachLibraryInWatcher(const TlsLibraryFile& file) {
  const size_t attached_before = attached.size();
  AttachLibrary(file);
  TlsWatchReport report;
  report.file = file;
  if (attached.size() > attached_before) {
    report.probes = attached.back().probes;
    report.entry_points = attached.back().entry_points;
  } else {
    report.reason = skipped.empty() ? "cannot attach uprobes" : skipped.back().reason;
  }
  return report;
}

// The files found at start-up, attached or not, are known to the watcher: it looks for new ones.
void TlsProbes::Impl::StartWatcher(const TlsLibraryScanConfig& scan_config,
                                   const TlsLibraryScan& scan) {
  if (config.watch_interval.count() <= 0) return;
  std::set<TlsLibraryWatcher::FileId> known;
  for (const TlsLibraryFile& f : scan.files) known.insert({f.dev, f.ino});
  std::vector<int> keep_fds;
  bpf_program* prog;
  bpf_object__for_each_program(prog, skel->obj) keep_fds.push_back(bpf_program__fd(prog));
  try {
    watcher = TlsLibraryWatcher::Start(
        scan_config, config.watch_interval, std::move(known),
        [this](const TlsLibraryFile& file) { return AttachLibraryInWatcher(file); }, keep_fds);
    next_watch_poll = std::chrono::steady_clock::now() + config.watch_interval;
    watcher_running = true;
  } catch (const std::exception& e) {
    Log(Severity::kWarn,
        "TLS plaintext: no library watcher ({}): library files first used after start-up are "
        "not probed until the agent restarts",
        e.what());
  }
}

// At most once per watch interval (a read of a pipe): the files the watcher probed or refused.
void TlsProbes::Impl::PollWatcher() {
  const auto now = std::chrono::steady_clock::now();
  if (!watcher || now < next_watch_poll) return;
  next_watch_poll = now + config.watch_interval;
  std::vector<TlsWatchReport> reports = watcher->Poll();
  if (reports.empty()) return;
  std::lock_guard lock(libraries_mutex);
  for (TlsWatchReport& r : reports) {
    if (r.probes > 0) {
      attached.push_back({std::move(r.file), r.probes, std::move(r.entry_points)});
      ++libraries_probed_later;
    } else {
      skipped.push_back({r.file.path, r.file.found_by, r.reason});
    }
  }
}

// A record captured after the drain's limit is copied aside and ends the drain (libbpf has
// already consumed it when the callback runs, so it cannot be left in the ring).
int TlsProbes::Impl::OnRecord(void* ctx, void* data, size_t size) {
  Impl& s = *static_cast<Impl*>(ctx);
  const auto* bytes = static_cast<const uint8_t*>(data);
  uint64_t ts_ns = 0;
  if (size >= sizeof ts_ns) std::memcpy(&ts_ns, bytes, sizeof ts_ns);  // mailtap_tls_rec.ts_ns
  if (ts_ns > s.drain_limit_ns) {
    s.set_aside.assign(bytes, bytes + size);
    s.has_set_aside = true;
    return kStopDrain;
  }
  s.assembler->Accept(std::span<const uint8_t>(bytes, size), s.draining_to);
  ++s.drained;
  return 0;
}

std::unique_ptr<TlsProbes> TlsProbes::Open(const TlsCaptureConfig& config, const PortSet& ports) {
  auto impl = std::make_unique<Impl>();
  impl->config = config;
  if (config.max_copy == 0 || config.max_copy > MAILTAP_TLS_MAX_COPY) {
    Fail("the TLS copy limit must be between 1 and " + std::to_string(MAILTAP_TLS_MAX_COPY));
  }
  const int ncpus = libbpf_num_possible_cpus();
  if (ncpus <= 0) Fail("cannot count the possible CPUs");
  impl->ncpus = static_cast<size_t>(ncpus);
  impl->Load(ports);
  impl->counters.Map(bpf_map__fd(impl->skel->maps.tls_counters), impl->ncpus,
                     MAILTAP_TLS_CTR_SLOTS * sizeof(uint64_t), "TLS counters");
  Impl* raw = impl.get();
  impl->assembler = std::make_unique<TlsRecordAssembler>(
      impl->ncpus, [raw](uint64_t ns) { return raw->clock.ToEpoch(ns); });
  impl->ring.reset(ring_buffer__new(bpf_map__fd(impl->skel->maps.tls_events), &Impl::OnRecord,
                                    impl.get(), nullptr));
  if (!impl->ring) Fail(std::string("cannot map the TLS ring: ") + strerror(errno));
  impl->AttachKernel();
  TlsLibraryScanConfig scan_config;
  scan_config.proc_root = config.proc_root;
  scan_config.process_names = config.process_names;
  scan_config.standard_dirs = config.library_dirs;
  TlsLibraryScan scan = ScanTlsLibraries(scan_config);
  for (SkippedTlsLibrary& s : scan.skipped) {
    Log(Severity::kWarn, "TLS plaintext: {} ({}) not probed: {}", s.path, s.found_by, s.reason);
    impl->skipped.push_back(std::move(s));
  }
  for (const TlsLibraryFile& file : scan.files) impl->AttachLibrary(file);
  impl->StartWatcher(scan_config, scan);
  if (impl->attached.empty()) {
    Log(Severity::kWarn,
        "TLS plaintext: no TLS library found to probe; STARTTLS sessions are analysed up to "
        "STARTTLS only");
  }
  return std::unique_ptr<TlsProbes>(new TlsProbes(std::move(impl)));
}

TlsProbes::TlsProbes(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TlsProbes::~TlsProbes() = default;

int TlsProbes::ring_fd() const { return bpf_map__fd(impl_->skel->maps.tls_events); }

size_t TlsProbes::Drain(TlsPlaintextSink* sink, uint64_t up_to_ns) {
  Impl& s = *impl_;
  s.PollWatcher();
  s.drained = 0;
  if (s.has_set_aside) {
    uint64_t ts_ns = 0;
    if (s.set_aside.size() >= sizeof ts_ns) std::memcpy(&ts_ns, s.set_aside.data(), sizeof ts_ns);
    if (ts_ns > up_to_ns) return 0;
    s.has_set_aside = false;
    s.assembler->Accept(s.set_aside, sink);
    ++s.drained;
  }
  s.draining_to = sink;
  s.drain_limit_ns = up_to_ns;
  ring_buffer__consume(s.ring.get());  // < 0 (kStopDrain) when a record was set aside
  s.draining_to = nullptr;
  return s.drained;
}

void TlsProbes::Detach() {
  impl_->watcher_running = false;
  impl_->watcher.reset();
  impl_->library_links.clear();
  impl_->kernel_links.clear();
}

std::vector<AttachedTlsLibrary> TlsProbes::attached() const {
  std::lock_guard lock(impl_->libraries_mutex);
  return impl_->attached;
}

std::vector<SkippedTlsLibrary> TlsProbes::skipped() const {
  std::lock_guard lock(impl_->libraries_mutex);
  return impl_->skipped;
}

std::string TlsProbes::Describe() const {
  std::lock_guard lock(impl_->libraries_mutex);
  std::string out = std::string("TLS plaintext (socket ") + impl_->socket_hooks + "): ";
  if (impl_->attached.empty()) out += "no library probed";
  for (size_t i = 0; i < impl_->attached.size(); ++i) {
    const AttachedTlsLibrary& a = impl_->attached[i];
    if (i > 0) out += ", ";
    out += a.file.path + " (" + std::string(TlsLibraryKindName(a.file.kind)) + ", inode " +
           std::to_string(a.file.ino) + ", " + std::to_string(a.probes) +
           " probes: " + a.entry_points + ")";
  }
  for (const SkippedTlsLibrary& s : impl_->skipped) {
    out += "; not probed: " + s.path + " (" + s.reason + ")";
  }
  return out;
}

void TlsProbes::VisitStats(StatsVisitor& visitor) const {
  const Impl& s = *impl_;
  s.counters.Visit(visitor, "tls", kTlsCounterInfo);
  std::unique_lock lock(s.libraries_mutex);
  int probes = 0;
  for (const AttachedTlsLibrary& a : s.attached) probes += a.probes;
  const uint64_t probed = s.attached.size(), not_probed = s.skipped.size();
  const uint64_t probed_later = s.libraries_probed_later;
  lock.unlock();
  visitor.Visit("tls", "libraries_probed", probed, "TLS library files with uprobes.",
                StatKind::kGauge);
  visitor.Visit("tls", "libraries_not_probed", not_probed,
                "TLS library files found but not probed (see the start-up log).", StatKind::kGauge);
  visitor.Visit("tls", "libraries_probed_after_start", probed_later,
                "TLS library files first used after start-up and probed by the library watcher.",
                StatKind::kCounter);
  visitor.Visit("tls", "library_watcher", s.watcher_running ? 1u : 0u,
                "1 while the library watcher runs (probes library files first used later).",
                StatKind::kGauge);
  visitor.Visit("tls", "uprobes", static_cast<uint64_t>(probes),
                "Uprobes and uretprobes attached to TLS libraries.", StatKind::kGauge);
  visitor.Visit("tls", "socket_probes", s.kernel_links.size(),
                "Socket-layer probes attached (socket tracepoints or tcp_sendmsg/tcp_recvmsg).",
                StatKind::kGauge);
  s.assembler->VisitStats(visitor);
}

}  // namespace mailtap
