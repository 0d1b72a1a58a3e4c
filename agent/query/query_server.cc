#include "query/query_server.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>
#include <unordered_map>

#include "query/client_session.h"
#include "query/event_format.h"
#include "query/socket_setup.h"

namespace mailtap {
namespace {

constexpr int kMaxEpollEvents = 64;
constexpr int kMaxWaitMs = 1000;
// How long `connections` waits for the pipeline to build a fresh list (it does at its next
// housekeeping: within a poll interval live, 1024 packets in a replay); past that, the freshest
// list there is. Other clients wait meanwhile, so it is short.
constexpr std::chrono::milliseconds kConnectionsWait{250};

void LogToStderr(std::string_view line) {
  std::fprintf(stderr, "mailtapd: %.*s\n", static_cast<int>(line.size()), line.data());
}

std::string DescribePeer(const PeerCredentials& p) {
  return "pid " + std::to_string(p.pid) + " uid " + std::to_string(p.uid) + " gid " +
         std::to_string(p.gid);
}

// The history rings hold at least 8 MiB of events (2 MiB of records), more for a longer
// history: at ~150 bytes per typical event, `history_size` events fit with room to spare.
Hub::Limits HubLimits(const QueryServerConfig& c) {
  Hub::Limits limits;
  limits.event_history = c.history_size;
  limits.record_history = c.record_history_size;
  limits.queue_capacity = c.subscriber_queue;
  limits.event_bytes = std::max<size_t>(limits.event_bytes, c.history_size * 512);
  limits.record_bytes = std::max<size_t>(limits.record_bytes, c.record_history_size * 2048);
  return limits;
}

}  // namespace

class QueryServer::Impl : public SessionHost {
 public:
  Impl(QueryServerConfig config, AgentInfo info, const StatsSnapshot& stats,
       const ConnectionsSnapshot& connections);
  ~Impl() override { Stop(); }

  void Open();
  void Serve();
  void Stop();
  void HandSocketTo(uid_t uid);
  Hub& hub() { return hub_; }
  bool observe_data() const { return config_.observe_data; }
  std::vector<StatSample> OwnStats() const;
  const std::string& socket_path() const { return config_.socket_path; }
  void MarkCaptureFinished() { capture_finished_.store(true); }

  // SessionHost
  void Answer(const QueryRequest& request, QueryResponse* response) override;
  void Unsubscribe(const std::shared_ptr<Subscription>& s) override { hub_.Unsubscribe(s); }
  uint64_t Take(Subscription& s, size_t max, std::vector<ItemPtr>* out) override {
    return hub_.Take(s, max, out);
  }
  void CountBadRequest(const QueryError& error) override;
  void CountRequestTimeout() override { request_timeouts_.Add(); }
  void CountWriteTimeout() override { write_timeouts_.Add(); }

 private:
  void Wake();
  void Run();
  void Accept(SteadyTime now);
  bool PeerAllowed(int fd, PeerCredentials* peer) const;
  void Admit(UniqueFd fd, SteadyTime now);
  void HandleClientEvent(int fd, uint32_t events, SteadyTime now);
  void PumpFollowers(SteadyTime now);
  void CheckTimers(SteadyTime now);
  void EnforceOutputBudget(SteadyTime now);
  int WaitMillis(SteadyTime now) const;
  void Apply(ClientSession& session, ClientSession::Next next);
  void UpdateInterest(ClientSession& session);
  void CloseAll();
  std::vector<StatSample> AllStats() const;

  QueryServerConfig config_;
  AgentInfo info_;
  const StatsSnapshot& stats_;
  const ConnectionsSnapshot& connections_;
  std::vector<uid_t> allowed_uids_;
  std::vector<gid_t> allowed_gids_;
  Hub hub_;
  ListeningSocket listener_;
  UniqueFd epoll_;
  UniqueFd wake_fd_;
  std::atomic<bool> wake_pending_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> capture_finished_{false};
  std::thread thread_;
  bool stopped_ = true;
  std::unordered_map<int, std::unique_ptr<ClientSession>> sessions_;
  std::unordered_map<int, uint32_t> interest_;
  std::vector<int> closing_;
  bool over_budget_ = false;  // the last EnforceOutputBudget left the output over its budget

  std::atomic<uint64_t> clients_{0};
  Counter accepted_, refused_, over_limit_, bad_requests_, request_timeouts_, write_timeouts_,
      requests_, output_budget_disconnects_, output_budget_dropped_;
};

QueryServer::Impl::Impl(QueryServerConfig config, AgentInfo info, const StatsSnapshot& stats,
                        const ConnectionsSnapshot& connections)
    : config_(std::move(config)),
      info_(std::move(info)),
      stats_(stats),
      connections_(connections),
      hub_(HubLimits(config_), [this] { Wake(); }) {
  if (!config_.log) config_.log = LogToStderr;
}

void QueryServer::Impl::Open() {
  listener_ = OpenListeningSocket(config_.socket_path, config_.socket_group);
  allowed_uids_ = config_.allowed_uids.value_or(std::vector<uid_t>{0, ::geteuid()});
  allowed_gids_ = config_.allowed_gids.value_or(std::vector<gid_t>{});
  if (!config_.allowed_gids && listener_.group) allowed_gids_.push_back(*listener_.group);
  epoll_ = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
  wake_fd_ = UniqueFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!epoll_.valid() || !wake_fd_.valid()) {
    throw std::runtime_error(std::string("query server: cannot create epoll/eventfd: ") +
                             std::strerror(errno));
  }
  for (int fd : {listener_.fd.get(), wake_fd_.get()}) {
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = fd;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
      throw std::runtime_error(std::string("query server: epoll_ctl: ") + std::strerror(errno));
    }
  }
}

void QueryServer::Impl::Serve() {
  stopped_ = false;
  thread_ = std::thread([this] { Run(); });
}

void QueryServer::Impl::HandSocketTo(uid_t uid) {
  HandSocketDirectoryTo(config_.socket_path, listener_, uid);
}

void QueryServer::Impl::Stop() {
  if (stopped_) return;
  stopped_ = true;
  stopping_.store(true);
  uint64_t one = 1;
  (void)::write(wake_fd_.get(), &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  RemoveSocketFile(config_.socket_path, listener_);
  listener_.fd.Reset();
  listener_.lock.Reset();
}

// Called by Hub::Publish on the pipeline thread: one eventfd write per burst, not per event.
void QueryServer::Impl::Wake() {
  if (wake_pending_.exchange(true)) return;
  uint64_t one = 1;
  (void)::write(wake_fd_.get(), &one, sizeof one);
}

void QueryServer::Impl::Run() {
  epoll_event events[kMaxEpollEvents];
  while (!stopping_.load()) {
    int n = ::epoll_wait(epoll_.get(), events, kMaxEpollEvents,
                         WaitMillis(std::chrono::steady_clock::now()));
    if (n < 0 && errno != EINTR) {
      config_.log(std::string("query server: epoll_wait failed: ") + std::strerror(errno));
      break;
    }
    SteadyTime now = std::chrono::steady_clock::now();
    bool woken = false;
    for (int i = 0; i < n; ++i) {
      int fd = events[i].data.fd;
      if (fd == wake_fd_.get()) {
        woken = true;
      } else if (fd == listener_.fd.get()) {
        Accept(now);
      } else {
        HandleClientEvent(fd, events[i].events, now);
      }
    }
    if (woken) {
      // Consume the wake-up first, then re-arm, then drain: an item published before the
      // re-arm is drained below; one published after it writes the eventfd again.
      uint64_t count;
      (void)::read(wake_fd_.get(), &count, sizeof count);
      wake_pending_.store(false);
      PumpFollowers(now);
    }
    CheckTimers(now);
    EnforceOutputBudget(now);
    for (int fd : closing_) {
      interest_.erase(fd);
      sessions_.erase(fd);  // closes the fd, which also removes it from epoll
      clients_.store(sessions_.size());
    }
    closing_.clear();
  }
  CloseAll();
}

void QueryServer::Impl::Accept(SteadyTime now) {
  for (;;) {
    UniqueFd fd(::accept4(listener_.fd.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
    if (!fd.valid()) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        config_.log(std::string("query server: accept failed: ") + std::strerror(errno));
      }
      return;
    }
    Admit(std::move(fd), now);
  }
}

bool QueryServer::Impl::PeerAllowed(int fd, PeerCredentials* peer) const {
  if (!GetPeerCredentials(fd, peer)) return false;
  auto has = [](const auto& v, auto x) { return std::find(v.begin(), v.end(), x) != v.end(); };
  if (has(allowed_uids_, peer->uid) || has(allowed_gids_, peer->gid)) return true;
  return std::any_of(peer->groups.begin(), peer->groups.end(),
                     [&](gid_t g) { return has(allowed_gids_, g); });
}

void QueryServer::Impl::Admit(UniqueFd fd, SteadyTime now) {
  if (config_.send_buffer_bytes > 0) {
    (void)::setsockopt(fd.get(), SOL_SOCKET, SO_SNDBUF, &config_.send_buffer_bytes,
                       sizeof config_.send_buffer_bytes);
  }
  SessionLimits limits{config_.max_request_bytes, config_.request_timeout, config_.idle_timeout};
  PeerCredentials peer;
  std::optional<QueryError> refusal;
  if (!PeerAllowed(fd.get(), &peer)) {
    refused_.Add();
    config_.log("query: refused peer " + DescribePeer(peer) +
                ": not root, not the agent's user, not in an allowed group");
    refusal = QueryError{query_errors::kAccessDenied,
                         "access denied: uid " + std::to_string(peer.uid) +
                             " may not query this agent (allowed: root, the agent's user and the "
                             "--socket-group members)"};
  } else if (sessions_.size() >= config_.max_clients) {
    over_limit_.Add();
    config_.log("query: refused " + DescribePeer(peer) + ": too many clients");
    refusal = QueryError{query_errors::kTooManyClients, "the agent already serves " +
                                                            std::to_string(config_.max_clients) +
                                                            " clients; try again later"};
  }
  if (refusal) {
    // Answer and forget: a refused peer never holds a client slot.
    ClientSession session(std::move(fd), *this, limits, now);
    (void)session.Refuse(*refusal, now);
    return;
  }
  accepted_.Add();
  int raw = fd.get();
  auto session = std::make_unique<ClientSession>(std::move(fd), *this, limits, now);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.fd = raw;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, raw, &ev) != 0) return;
  interest_[raw] = ev.events;
  sessions_.emplace(raw, std::move(session));
  clients_.store(sessions_.size());
}

void QueryServer::Impl::HandleClientEvent(int fd, uint32_t events, SteadyTime now) {
  auto it = sessions_.find(fd);
  if (it == sessions_.end()) return;
  ClientSession& s = *it->second;
  if (events & (EPOLLHUP | EPOLLERR)) {
    closing_.push_back(fd);
    return;
  }
  if (events & (EPOLLIN | EPOLLRDHUP)) {
    Apply(s, s.OnReadable(now));
  }
  if (events & EPOLLOUT) Apply(s, s.Pump(now));
}

void QueryServer::Impl::PumpFollowers(SteadyTime now) {
  for (auto& [fd, session] : sessions_) {
    if (session->Following() && !session->WantsWrite()) Apply(*session, session->Pump(now));
  }
}

void QueryServer::Impl::CheckTimers(SteadyTime now) {
  for (auto& [fd, session] : sessions_) {
    auto deadline = session->Deadline();
    if (deadline && now >= *deadline) Apply(*session, session->OnTimer(now));
  }
}

// Issue 17: 60 clients that never read their `connections` replies (10^5 flows each) held
// 1.27 GB. Past the budget, the client holding the most output among those that have not read
// for output_stall goes, then the next; a client that is reading its reply is spared unless the
// output reaches twice the budget.
void QueryServer::Impl::EnforceOutputBudget(SteadyTime now) {
  auto closing = [this](int fd) {
    return std::find(closing_.begin(), closing_.end(), fd) != closing_.end();
  };
  size_t total = 0;
  for (const auto& [fd, session] : sessions_) {
    if (!closing(fd)) total += session->QueuedBytes();
  }
  over_budget_ = false;
  while (total > config_.max_output_bytes) {
    const bool any = total > 2 * config_.max_output_bytes;
    ClientSession* largest = nullptr;
    for (const auto& [fd, session] : sessions_) {
      if (closing(fd) || (!any && !session->StalledFor(config_.output_stall, now))) continue;
      if (!largest || session->QueuedBytes() > largest->QueuedBytes()) largest = session.get();
    }
    over_budget_ = true;
    if (largest == nullptr) return;  // every holder is reading, or not stalled long: wait
    output_budget_disconnects_.Add();
    output_budget_dropped_.Add(largest->QueuedItems());
    config_.log("query: disconnected a client holding " + std::to_string(largest->QueuedBytes()) +
                " bytes of unread output (all clients: " + std::to_string(total) + " > " +
                std::to_string(config_.max_output_bytes) + ")");
    total -= largest->QueuedBytes();
    closing_.push_back(largest->fd());
  }
}

int QueryServer::Impl::WaitMillis(SteadyTime now) const {
  auto wait = std::chrono::milliseconds(kMaxWaitMs);
  // Over the output budget: look again once a holder may have stalled long enough.
  if (over_budget_) wait = std::min(wait, config_.output_stall);
  for (const auto& [fd, session] : sessions_) {
    auto deadline = session->Deadline();
    if (!deadline) continue;
    auto left = std::chrono::ceil<std::chrono::milliseconds>(*deadline - now);
    wait = std::clamp(left, std::chrono::milliseconds(0), wait);
  }
  return static_cast<int>(wait.count());
}

void QueryServer::Impl::Apply(ClientSession& session, ClientSession::Next next) {
  if (next == ClientSession::Next::kClose) {
    if (std::find(closing_.begin(), closing_.end(), session.fd()) == closing_.end()) {
      closing_.push_back(session.fd());
    }
    return;
  }
  UpdateInterest(session);
}

void QueryServer::Impl::UpdateInterest(ClientSession& session) {
  uint32_t want = 0;
  // Level-triggered RDHUP would fire forever once the client has shut down its side.
  if (!session.ReadClosed()) want |= EPOLLRDHUP;
  if (session.WantsRead()) want |= EPOLLIN;
  if (session.WantsWrite()) want |= EPOLLOUT;
  uint32_t& current = interest_[session.fd()];
  if (current == want) return;
  epoll_event ev{};
  ev.events = want;
  ev.data.fd = session.fd();
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, session.fd(), &ev) == 0) current = want;
}

void QueryServer::Impl::CloseAll() {
  std::string bye = ErrorMessage({query_errors::kShuttingDown, "the agent is shutting down"});
  for (auto& [fd, session] : sessions_) session->SendFinal(bye);
  sessions_.clear();
  interest_.clear();
  clients_.store(0);
}

void QueryServer::Impl::CountBadRequest(const QueryError& error) {
  bad_requests_.Add();
  config_.log("query: bad request (" + std::string(error.code) + "): " + error.message);
}

void QueryServer::Impl::Answer(const QueryRequest& request, QueryResponse* response) {
  requests_.Add();
  response->lines.push_back(OkMessage(request.verb));
  auto now = std::chrono::system_clock::now();
  switch (request.verb) {
    case Verb::kObserve:
    case Verb::kTransactions: {
      Stream stream = request.verb == Verb::kObserve ? Stream::kEvents : Stream::kRecords;
      Hub::Start start = hub_.Subscribe(stream, request.filter, request.last, request.follow);
      response->backlog = std::move(start.backlog);
      response->subscription = std::move(start.subscription);
      return;
    }
    case Verb::kConnections: {
      const std::vector<ConnectionSummary> list = connections_.GetFresh(kConnectionsWait);
      // A replay's clock is its packets': ages against the wall clock would be years.
      const auto clock = info_.packet_clock ? NewestPacketTime(list) : now;
      for (const auto& c : list) {
        if (!request.filter.Matches(KeysFromConnection(c))) continue;
        response->lines.push_back(FormatConnectionJson(c, clock));
        ++response->data_lines;
      }
      return;
    }
    case Verb::kStatus: {
      // Read before the statistics: "finished" promises that they are final, and the pipeline
      // publishes its last statistics before it marks the capture finished.
      const bool finished = capture_finished_.load();
      response->lines.push_back(
          FormatStatusJson(info_, AllStats(), now, finished ? "finished" : "running"));
      response->data_lines = 1;
      return;
    }
    case Verb::kMetrics: {
      nlohmann::ordered_json j;
      j["content_type"] = "text/plain; version=0.0.4";
      j["text"] = FormatPrometheus(info_, AllStats(), now);
      response->lines.push_back(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      response->data_lines = 1;
      return;
    }
  }
}

std::vector<StatSample> QueryServer::Impl::AllStats() const {
  std::vector<StatSample> all = stats_.Get();
  std::vector<StatSample> own = OwnStats();
  all.insert(all.end(), own.begin(), own.end());
  return all;
}

std::vector<StatSample> QueryServer::Impl::OwnStats() const {
  auto counter = [](const char* name, uint64_t v, const char* help) {
    return StatSample{"query", name, help, "", v, StatKind::kCounter, "", "", ""};
  };
  auto loss = [](const char* name, uint64_t v, const char* help, const char* cause, LossUnit unit) {
    return StatSample{
        "query", name, help, cause, v, StatKind::kCounter, std::string(LossUnitName(unit)), "", ""};
  };
  auto gauge = [](const char* name, uint64_t v, const char* help) {
    return StatSample{"query", name, help, "", v, StatKind::kGauge, "", "", ""};
  };
  return {
      gauge("clients", clients_.load(), "Query clients connected now."),
      gauge("subscribers", hub_.subscribers(), "Clients following events or records now."),
      gauge("history_events", hub_.history_size(Stream::kEvents),
            "Events held for observe --last."),
      counter("events_published", hub_.published(Stream::kEvents),
              "Events handed to the query server."),
      counter("records_published", hub_.published(Stream::kRecords),
              "smtp.log records handed to the query server."),
      counter("clients_accepted", accepted_.Get(), "Query connections accepted."),
      counter("peers_refused", refused_.Get(),
              "Query connections refused: peer uid/gid not allowed."),
      counter("clients_over_limit", over_limit_.Get(),
              "Query connections refused: too many clients."),
      counter("requests", requests_.Get(), "Query requests answered."),
      counter("bad_requests", bad_requests_.Get(), "Query requests rejected as malformed."),
      counter("request_timeouts", request_timeouts_.Get(),
              "Clients closed for not sending a request in time."),
      counter("write_timeouts", write_timeouts_.Get(),
              "Clients closed for accepting no output in time."),
      loss("slow_subscriber_dropped", hub_.slow_subscriber_lost(Stream::kEvents),
           "Events a subscriber lost by reading too slowly (counted before its filter).",
           "slow_subscriber", LossUnit::kEvents),
      loss("slow_subscriber_dropped_records", hub_.slow_subscriber_lost(Stream::kRecords),
           "smtp.log records a subscriber lost by reading too slowly (counted before its "
           "filter).",
           "slow_subscriber_records", LossUnit::kRecords),
      loss("history_oversize_dropped", hub_.oversize_dropped(Stream::kEvents),
           "Events larger than a quarter of the query history, not kept for queries (outputs "
           "still have them).",
           "query_oversize", LossUnit::kEvents),
      loss("history_oversize_dropped_records", hub_.oversize_dropped(Stream::kRecords),
           "smtp.log records larger than a quarter of their query history, not kept for "
           "queries (smtp.log still has them).",
           "query_oversize_records", LossUnit::kRecords),
      counter("output_budget_disconnects", output_budget_disconnects_.Get(),
              "Clients disconnected for holding the most unread output when all clients' output "
              "exceeded its budget."),
      loss("output_budget_dropped", output_budget_dropped_.Get(),
           "Reply lines, events or records (one JSON line each) those clients never got.",
           "query_output_budget", LossUnit::kLines),
  };
}

QueryServer::QueryServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

QueryServer::~QueryServer() { Stop(); }

std::unique_ptr<QueryServer> QueryServer::Start(QueryServerConfig config, AgentInfo info,
                                                const StatsSnapshot& stats,
                                                const ConnectionsSnapshot& connections) {
  auto server = Open(std::move(config), std::move(info), stats, connections);
  server->Serve();
  return server;
}

std::unique_ptr<QueryServer> QueryServer::Open(QueryServerConfig config, AgentInfo info,
                                               const StatsSnapshot& stats,
                                               const ConnectionsSnapshot& connections) {
  auto impl = std::make_unique<Impl>(std::move(config), std::move(info), stats, connections);
  impl->Open();
  return std::unique_ptr<QueryServer>(new QueryServer(std::move(impl)));
}

void QueryServer::Serve() { impl_->Serve(); }

void QueryServer::Stop() { impl_->Stop(); }

void QueryServer::HandSocketTo(uid_t uid) { impl_->HandSocketTo(uid); }

// At the event rate: the event's fields are copied into the history ring (no allocation, no
// formatting); a client's read decodes and formats them.
void QueryServer::OnEvent(const Event& event) {
  if (Wants(event.id)) impl_->hub().PublishEvent(event);
}

bool QueryServer::Wants(EventId id) const { return !IsContentEvent(id) || impl_->observe_data(); }

void QueryServer::OnRecord(const SmtpRecord& record) { impl_->hub().PublishRecord(record); }

void QueryServer::MarkCaptureFinished() { impl_->MarkCaptureFinished(); }

std::vector<StatSample> QueryServer::OwnStats() const { return impl_->OwnStats(); }

const std::string& QueryServer::socket_path() const { return impl_->socket_path(); }

}  // namespace mailtap
