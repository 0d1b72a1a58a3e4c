// The `mailtap` binary against an in-process query server.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "query/event_format.h"
#include "query/query_server.h"
#include "query_test_util.h"

namespace mailtap {
namespace {

using testing::Request;
using testing::TempDir;

// Who runs the client: this process's user, or another one (a child that switches to it).
struct OtherUser {
  uid_t uid;
  gid_t gid;
};

// A running `mailtap` (by default the build tree's); stdout and stderr are collected through pipes.
class ClientProcess {
 public:
  ClientProcess(std::vector<std::string> args, std::vector<std::string> env = {},
                std::optional<OtherUser> run_as = std::nullopt,
                std::string program = MAILTAP_CLI_PATH) {
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) return;
    args.insert(args.begin(), program);
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    const std::string exec_failed = "test: cannot execute " + program + "\n";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      if (run_as && (::setgroups(0, nullptr) != 0 || ::setgid(run_as->gid) != 0 ||
                     ::setuid(run_as->uid) != 0)) {
        ::_exit(99);
      }
      ::execve(program.c_str(), argv.data(), envp.data());
      ssize_t ignored = ::write(2, exec_failed.data(), exec_failed.size());
      (void)ignored;
      ::_exit(98);
    }
    ::close(out[1]);
    ::close(err[1]);
    out_ = UniqueFd(out[0]);
    err_ = UniqueFd(err[0]);
  }
  // Reads stdout until it holds `n` lines (or the process closes it).
  std::vector<std::string> StdoutLines(size_t n) {
    while (Lines(stdout_).size() < n && Pump()) {
    }
    return Lines(stdout_);
  }
  int Wait() {
    while (Pump()) {
    }
    int status = 0;
    ::waitpid(pid_, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  const std::string& out() const { return stdout_; }
  const std::string& err() const { return stderr_; }

 private:
  static std::vector<std::string> Lines(const std::string& text) {
    std::vector<std::string> lines;
    size_t start = 0, nl;
    while ((nl = text.find('\n', start)) != std::string::npos) {
      lines.push_back(text.substr(start, nl - start));
      start = nl + 1;
    }
    return lines;
  }
  // One read from whichever pipe is ready; false once both are closed.
  bool Pump() {
    pollfd fds[2] = {{out_.get(), POLLIN, 0}, {err_.get(), POLLIN, 0}};
    if (!out_.valid() && !err_.valid()) return false;
    if (::poll(fds, 2, testing::kGuardMillis) <= 0) return false;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].revents == 0) continue;
      char buf[4096];
      ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
      UniqueFd& fd = i == 0 ? out_ : err_;
      if (n <= 0) {
        fd.Reset();
      } else {
        (i == 0 ? stdout_ : stderr_).append(buf, static_cast<size_t>(n));
      }
    }
    return true;
  }

  pid_t pid_ = -1;
  UniqueFd out_, err_;
  std::string stdout_, stderr_;
};

class CliTest : public ::testing::Test {
 protected:
  void Start(QueryServerConfig c) {
    c.log = [](std::string_view) {};
    AgentInfo info{"9.9.9", "test producer", {}, "", std::chrono::system_clock::now()};
    server_ = QueryServer::Start(std::move(c), info, stats_, connections_);
  }
  QueryServerConfig Config() {
    QueryServerConfig c;
    c.socket_path = dir_.path() + "/q.sock";
    return c;
  }
  void StartWithEvents(int n) {
    Start(Config());
    for (int i = 0; i < n; ++i) server_->OnEvent(Request(i, i % 2));
  }
  std::string socket() const { return dir_.path() + "/q.sock"; }

  TempDir dir_;
  StatsSnapshot stats_;
  ConnectionsSnapshot connections_;
  std::unique_ptr<QueryServer> server_;
};

TEST_F(CliTest, StatusPrintsOneJsonObject) {
  StartWithEvents(0);
  ClientProcess p({"--socket", socket(), "status"});
  ASSERT_EQ(p.Wait(), 0) << p.err();
  auto j = nlohmann::json::parse(p.out(), nullptr, false);
  ASSERT_TRUE(j.is_object()) << p.out();
  EXPECT_EQ(j["version"], "9.9.9");
  EXPECT_TRUE(j["loss"].contains("slow_subscriber"));
}

TEST_F(CliTest, ObserveJsonLinesAreIdenticalToTheEventsOutput) {
  StartWithEvents(10);
  ClientProcess p({"--socket", socket(), "observe", "--last", "3", "-o", "json"});
  ASSERT_EQ(p.Wait(), 0) << p.err();
  std::string expected;
  for (int i = 7; i < 10; ++i) expected += FormatEventJson(Request(i, i % 2)) + "\n";
  EXPECT_EQ(p.out(), expected);
}

TEST_F(CliTest, ObserveCompactPrintsOneUncolouredLinePerEventWhenNotATerminal) {
  StartWithEvents(2);
  ClientProcess p({"--socket", socket(), "observe", "--last", "1", "-o", "compact"});
  ASSERT_EQ(p.Wait(), 0) << p.err();
  EXPECT_EQ(p.out(),
            "2023-11-14T22:13:20.001000Z CTest1: 10.0.0.2:40001 -> 192.0.2.25:587 smtp_request "
            "NOOP seq=1\n");
}

TEST_F(CliTest, ObserveTablePrintsAHeaderThenRows) {
  StartWithEvents(2);
  ClientProcess p({"--socket", socket(), "observe", "--last", "2", "-o", "table"});
  ASSERT_EQ(p.Wait(), 0) << p.err();
  auto lines = p.StdoutLines(3);
  ASSERT_EQ(lines.size(), 3u) << p.out();
  EXPECT_EQ(lines[0].rfind("TIME", 0), 0u);
  EXPECT_NE(lines[0].find("EVENT"), std::string::npos);
  EXPECT_NE(lines[1].find("10.0.0.1:40000"), std::string::npos);
  EXPECT_NE(lines[2].find("NOOP seq=1"), std::string::npos);
}

TEST_F(CliTest, FiltersReachTheAgent) {
  StartWithEvents(6);
  ClientProcess p({"--socket", socket(), "observe", "--last", "10", "--port", "587", "-o", "json"});
  ASSERT_EQ(p.Wait(), 0) << p.err();
  std::string expected;
  for (int i : {1, 3, 5}) expected += FormatEventJson(Request(i, 1)) + "\n";
  EXPECT_EQ(p.out(), expected);
}

TEST_F(CliTest, FollowPrintsNewEventsUntilTheAgentStops) {
  StartWithEvents(0);
  ClientProcess p({"--socket", socket(), "observe", "--follow", "-o", "json"});
  // The client is subscribed once the server counts it (no sleep: a bounded handshake).
  for (int i = 0; i < 100000; ++i) {
    auto stats = server_->OwnStats();
    auto it =
        std::find_if(stats.begin(), stats.end(), [](auto& s) { return s.name == "subscribers"; });
    if (it->value == 1) break;
    std::this_thread::yield();
  }
  for (int i = 0; i < 3; ++i) server_->OnEvent(Request(i));
  auto lines = p.StdoutLines(3);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[2], FormatEventJson(Request(2)));
  server_->Stop();
  EXPECT_EQ(p.Wait(), 1);
  EXPECT_NE(p.err().find("shutting down"), std::string::npos) << p.err();
}

TEST_F(CliTest, AgentNotRunningExitsOneAndSaysSo) {
  ClientProcess p({"--socket", socket(), "status"});
  EXPECT_EQ(p.Wait(), 1);
  EXPECT_NE(p.err().find("agent not running"), std::string::npos) << p.err();
}

TEST_F(CliTest, SocketComesFromTheEnvironment) {
  StartWithEvents(0);
  ClientProcess p({"status"}, {"MAILTAP_SOCKET=" + socket()});
  EXPECT_EQ(p.Wait(), 0) << p.err();
}

TEST_F(CliTest, PeerRefusedByTheAgentExitsOneSayingAccessDenied) {
  QueryServerConfig c = Config();
  c.allowed_uids = std::vector<uid_t>{65534};
  c.allowed_gids = std::vector<gid_t>{};
  Start(c);
  ClientProcess p({"--socket", socket(), "status"});
  EXPECT_EQ(p.Wait(), 1);
  EXPECT_NE(p.err().find("access denied"), std::string::npos) << p.err();
}

// A copy of the client that any user can run, wherever the build tree lives (CI may clone into a
// 0700 directory): a new 0755 directory under /tmp holding the binary, mode 0755.
class ClientCopyForOtherUsers {
 public:
  ClientCopyForOtherUsers() {
    namespace fs = std::filesystem;
    ::chmod(dir_.path().c_str(), 0755);
    fs::copy_file(MAILTAP_CLI_PATH, path());
    fs::permissions(path(), fs::perms(0755));
  }
  std::string path() const { return dir_.path() + "/mailtap"; }

 private:
  TempDir dir_;
};

TEST_F(CliTest, SocketTheUserMayNotOpenExitsOneSayingPermissionDenied) {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to run the client as another user";
  StartWithEvents(0);  // the temporary directory is 0700 root: nobody cannot reach the socket
  ClientCopyForOtherUsers client;
  ClientProcess p({"--socket", socket(), "status"}, {}, OtherUser{65534, 65534}, client.path());
  EXPECT_EQ(p.Wait(), 1) << p.err();
  EXPECT_NE(p.err().find("permission denied"), std::string::npos) << p.err();
}

TEST_F(CliTest, BadUsageExitsTwoNamingTheOption) {
  ClientProcess p({"--socket", socket(), "observe", "--last", "many"});
  EXPECT_EQ(p.Wait(), 2);
  EXPECT_NE(p.err().find("--last"), std::string::npos) << p.err();
  ClientProcess q({"observe", "-o", "xml"});
  EXPECT_EQ(q.Wait(), 2);
  EXPECT_NE(q.err().find("--output"), std::string::npos) << q.err();
  ClientProcess r({"frobnicate"});
  EXPECT_EQ(r.Wait(), 2);
  EXPECT_NE(r.err().find("frobnicate"), std::string::npos) << r.err();
}

}  // namespace
}  // namespace mailtap
