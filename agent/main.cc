// mailtapd: the only catch-all boundary. Start-up errors arrive here as exceptions and leave as a
// precise message and exit status 1; usage errors exit 2.
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <memory>
#include <mutex>
#include <thread>

#include "capture/pcap_source.h"
#include "common/log.h"
#include "common/readiness.h"
#include "config.h"
#include "mailtap/version.h"
#include "pipeline.h"
#include "query/metrics_http.h"
#include "query/query_server.h"
#include "query/status.h"
#include "sinks/redactor.h"
#ifdef MAILTAP_HAVE_LIVE
#include "capture/privileges.h"
#include "capture/ringbuf_source.h"
#endif

namespace mailtap {
namespace {

// Signals are taken by one thread with sigwait(), so nothing async-signal-unsafe runs in a handler.
// A replay starts it before the capture source is opened, so that SIGINT/SIGTERM end the replay
// even while it waits for the capture file's header on a pipe (`cat | mailtapd -r -`).
class SignalThread {
 public:
  SignalThread() {
    sigemptyset(&set_);
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set_, sig);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);  // inherited by every thread started later
  }
  // Signals arriving before are held pending until then. The live agent starts it after it has
  // dropped its privileges: capabilities are per thread.
  void Start() {
    thread_ = std::thread([this] { Loop(); });
    thread_.detach();  // blocked in sigwait until the process exits
  }
  // Set on SIGINT/SIGTERM: for a source being opened.
  std::shared_ptr<std::atomic<bool>> stop_flag() const { return stop_flag_; }
  // From now on, SIGHUP reopens the pipeline's outputs and a stop stops `source` (at once if one
  // came earlier).
  void Attach(Pipeline* pipeline, CaptureSource* source) {
    std::lock_guard lock(mu_);
    pipeline_ = pipeline;
    source_ = source;
    if (stopped_) source_->Stop();
  }
  // Pipeline::Run() returned: SIGHUP is handled by WaitForStop() on the main thread.
  void MarkPipelineDone() {
    std::lock_guard lock(mu_);
    pipeline_done_ = true;
  }
  // Blocks until SIGINT or SIGTERM; reopens the outputs on SIGHUP meanwhile (--keep-serving).
  void WaitForStop() {
    std::unique_lock lock(mu_);
    while (true) {
      cv_.wait(lock, [this] { return stopped_ || reopen_pending_; });
      if (stopped_) return;
      reopen_pending_ = false;
      lock.unlock();
      pipeline_->ReopenNow();
      lock.lock();
    }
  }

 private:
  void Loop() {
    while (true) {
      int sig = 0;
      if (sigwait(&set_, &sig) != 0) continue;
      if (sig == SIGHUP) {
        OnHangup();
        continue;
      }
      Log(Severity::kInfo, "signal {}: draining and stopping", sig);
      NotifyStopping();
      stop_flag_->store(true);
      std::lock_guard lock(mu_);
      // The source ends its input after handing out what it already holds (the live ring
      // buffer is drained); the pipeline then finishes every session and flushes.
      if (source_ != nullptr) source_->Stop();
      stopped_ = true;
      cv_.notify_all();
    }
  }
  void OnHangup() {
    std::lock_guard lock(mu_);
    if (pipeline_ == nullptr) {
      Log(Severity::kInfo, "SIGHUP while starting: no output is open yet, nothing to reopen");
    } else if (pipeline_done_) {
      reopen_pending_ = true;  // the pipeline thread is gone: the main thread reopens
      cv_.notify_all();
    } else {
      pipeline_->RequestReopen();
    }
  }

  sigset_t set_;
  std::thread thread_;
  std::shared_ptr<std::atomic<bool>> stop_flag_ = std::make_shared<std::atomic<bool>>(false);
  std::mutex mu_;
  std::condition_variable cv_;
  Pipeline* pipeline_ = nullptr;
  CaptureSource* source_ = nullptr;
  bool pipeline_done_ = false;
  bool reopen_pending_ = false;
  bool stopped_ = false;
};

std::unique_ptr<CaptureSource> OpenSource(const Config& config,
                                          std::shared_ptr<std::atomic<bool>> stop) {
  if (config.read_file) return PcapSource::Open(*config.read_file, config.ports, std::move(stop));
#ifdef MAILTAP_HAVE_LIVE
  LiveCaptureConfig live;
  live.interfaces = config.interfaces;
  live.ports = config.ports;
  live.ring_size = config.ring_size;
  live.tls.enabled = config.tls_plaintext;
  if (config.tls_processes) live.tls.process_names = *config.tls_processes;
  return RingbufSource::Open(live);
#else
  throw std::runtime_error(
      "live capture is not built in (configured with -DMAILTAP_BUILD_BPF=OFF); use -r FILE");
#endif
}

// Null if asked to stop while waiting for the capture (e.g. its header on a pipe): a clean end.
std::unique_ptr<CaptureSource> OpenSourceUnlessStopped(const Config& config,
                                                       std::shared_ptr<std::atomic<bool>> stop) {
  try {
    return OpenSource(config, stop);
  } catch (const std::exception&) {
    if (!stop->load()) throw;
    Log(Severity::kInfo, "stopped before the capture started: nothing to write");
    return nullptr;
  }
}

// glibc returns freed memory at the top of the heap to the kernel once 128 KiB are free, and
// serves blocks over a threshold it raises on its own with mmap. A stream of large messages makes
// the agent allocate and free reassembly buffers of 64 KiB and more per message, so each message
// faulted fresh, zeroed pages in again (5,100 page faults per 1,000 messages of 64 KiB; 700 with
// these settings). The heap keeps up to 32 MiB of free memory; Kubernetes limits already cover
// the peak, which the agent reaches anyway.
void TuneAllocator() {
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  mallopt(M_TRIM_THRESHOLD, 32 << 20);
}

std::optional<std::string> SocketPath(const Config& config) {
  if (config.socket_path) return config.socket_path;
  if (!config.read_file || config.keep_serving) return std::string(kDefaultSocketPath);
  return std::nullopt;
}

AgentInfo MakeAgentInfo(const Config& config, const CaptureSource& source,
                        const Pipeline& pipeline) {
  AgentInfo info;
  info.version = kVersion;
  info.capture_source = [&source] { return source.Describe(); };  // source outlives the server
  if (!config.read_file) info.kernel_features = {"socket_filter", "ringbuf"};
  info.packet_clock = config.read_file.has_value();
  info.redact = std::string(EnumName<RedactMode>(kRedactModeNames, config.redact));
  info.started = std::chrono::system_clock::now();
  info.heartbeat = &pipeline.heartbeat();
  return info;
}

// Binds the query socket; the server thread starts later (Serve), after privileges are dropped.
std::unique_ptr<QueryServer> OpenQueryServer(const Config& config, const AgentInfo& info,
                                             Pipeline& pipeline) {
  std::optional<std::string> path = SocketPath(config);
  if (!path) return nullptr;
  QueryServerConfig server_config;
  server_config.socket_path = *path;
  server_config.socket_group = config.socket_group;
  server_config.history_size = config.history;
  server_config.max_output_bytes = config.memory.Of(Budget::kQueryOutput);
  server_config.observe_data = config.observe_data;
  auto server = QueryServer::Open(server_config, info, pipeline.stats(), pipeline.connections());
  pipeline.AddEventSink(server.get());
  pipeline.AddRecordSink(server.get());
  return server;
}

#ifdef MAILTAP_HAVE_LIVE
// logrotate renames the output files and sends SIGHUP: the unprivileged agent must be able to
// reopen them and to create new ones. The files were opened as root, so they are handed to the
// user first; the directories are the operator's (deploy/ makes them the user's), so a
// directory the user cannot write is only pointed out.
void WarnIfNotWritable(const std::string& dir, const std::string& user) {
  if (::access(dir.c_str(), W_OK) == 0) return;
  Log(Severity::kWarn,
      "'{}' is not writable by user {}: after log rotation (SIGHUP) the agent cannot create new "
      "files there and keeps writing to the renamed ones; chown the directory to {}",
      dir, user, user);
}

void BecomeUnprivileged(const Config& config, Pipeline& pipeline, QueryServer* server) {
  const std::string user = config.user.value_or(DefaultUnprivilegedUser());
  // An unknown user: DropPrivileges says so.
  if (std::optional<UserIds> ids = LookupUser(user)) {
    pipeline.HandOutputsTo(ids->uid, ids->gid);
    // So that the socket and its lock file do not outlive the agent.
    if (server) server->HandSocketTo(ids->uid);
  }
  DropPrivileges(user);
  if (config.log_dir) WarnIfNotWritable(*config.log_dir, user);
  if (config.events_path && *config.events_path != "-") {
    const std::filesystem::path dir = std::filesystem::path(*config.events_path).parent_path();
    WarnIfNotWritable(dir.empty() ? "." : dir.string(), user);
  }
}
#endif

// A --log-dir that is not a directory fails with what to do, not with the errno of the first
// file opened in it ("No such file or directory").
void CheckLogDir(const Config& config) {
  if (!config.log_dir) return;
  std::error_code error;
  const std::filesystem::file_status status = std::filesystem::status(*config.log_dir, error);
  if (std::filesystem::is_directory(status)) return;
  if (std::filesystem::exists(status)) {
    throw std::runtime_error(
        fmt::format("--log-dir '{}' is not a directory: name a directory", *config.log_dir));
  }
  throw std::runtime_error(fmt::format(
      "--log-dir '{}' does not exist: create it first (mkdir -p '{}') or name another directory",
      *config.log_dir, *config.log_dir));
}

// The HTTP listener serves the same families as the socket's `metrics`: the pipeline's
// statistics and, when there is a query server, its own. Started after privileges are dropped,
// so that no thread parsing HTTP ever holds a capability.
std::unique_ptr<MetricsHttpListener> StartMetricsListener(const Config& config,
                                                          const AgentInfo& info,
                                                          const Pipeline& pipeline,
                                                          const QueryServer* server) {
  if (!config.metrics_address) return nullptr;
  auto provider = [info, &pipeline, server] {
    std::vector<StatSample> samples = pipeline.stats().Get();
    if (server != nullptr) {
      std::vector<StatSample> own = server->OwnStats();
      samples.insert(samples.end(), own.begin(), own.end());
    }
    return BuildMetricFamilies(info, samples, std::chrono::system_clock::now());
  };
  auto listener = MetricsHttpListener::Start(*config.metrics_address, provider);
  Log(Severity::kInfo, "metrics on http://{}/metrics (port {})", *config.metrics_address,
      listener->port());
  return listener;
}

int Run(const Config& config) {
  SetLogThreshold(config.log_level);
  // A reader that went away (`--events - | head`, a follower's socket) is a write error to
  // report and count, not a silent death.
  ::signal(SIGPIPE, SIG_IGN);
  SignalThread signals;
  CheckLogDir(config);
  if (config.read_file) signals.Start();  // a replay never changes its privileges
  std::unique_ptr<CaptureSource> source = OpenSourceUnlessStopped(config, signals.stop_flag());
  if (!source) return 0;
  Pipeline pipeline(config);
  if (config.log_dir_defaulted) {
    std::error_code error;
    Log(Severity::kInfo,
        "no --log-dir or --events: writing the logs into the current directory ({}), as zeek -r "
        "does",
        std::filesystem::current_path(error).string());
  }
  const AgentInfo info = MakeAgentInfo(config, *source, pipeline);
  std::unique_ptr<QueryServer> server = OpenQueryServer(config, info, pipeline);
#ifdef MAILTAP_HAVE_LIVE
  // Everything privileged (BPF load, attach, ring mmap, socket bind) is done: parse hostile
  // traffic without privilege from here on. Capabilities are per thread, so this comes before
  // any thread is started.
  if (!config.read_file) BecomeUnprivileged(config, pipeline, server.get());
#endif
  if (!config.read_file) signals.Start();
  std::unique_ptr<MetricsHttpListener> metrics_listener =
      StartMetricsListener(config, info, pipeline, server.get());
  if (server) server->Serve();
  signals.Attach(&pipeline, source.get());
  Log(Severity::kInfo, "capturing from {} (SMTP ports {})", source->Describe(),
      config.ports.ToString());
  NotifyReady(fmt::format("capturing from {}", source->Describe()));  // attached, socket bound
  pipeline.Run(*source);
  signals.MarkPipelineDone();
  if (server) server->MarkCaptureFinished();
  if (config.keep_serving && server) {
    Log(Severity::kInfo, "replay finished; serving queries until SIGINT/SIGTERM");
    signals.WaitForStop();
  }
  NotifyStopping();
  if (server) server->Stop();
  if (pipeline.LostOutput()) {
    Log(Severity::kError, "output was lost to write errors (see above); exiting with status 1");
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace mailtap

int main(int argc, char** argv) {
  mailtap::TuneAllocator();
  mailtap::ParseOutcome parsed = mailtap::ParseCommandLine(argc, argv);
  if (!parsed.config) {
    std::fputs(parsed.message.c_str(), parsed.exit_status == 0 ? stdout : stderr);
    return parsed.exit_status;
  }
  try {
    return mailtap::Run(*parsed.config);
  } catch (const std::exception& e) {
    mailtap::Log(mailtap::Severity::kError, "{}", e.what());
    return 1;
  }
}
