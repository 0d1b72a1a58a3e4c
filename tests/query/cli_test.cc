// The `mailtap` binary against an in-process query server.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
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
    AgentInfo info{"9.9.9",
                   [] { return std::string("test producer"); },
                   {},
                   "",
                   std::chrono::system_clock::now()};
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

TEST_F(CliTest, StatusPrintsOneJsonObjectWithDashOJsonAndWhenNotATerminal) {
  StartWithEvents(0);
  for (auto args : {std::vector<std::string>{"--socket", socket(), "status", "-o", "json"},
                    std::vector<std::string>{"--socket", socket(), "status"}}) {
    ClientProcess p(args);
    ASSERT_EQ(p.Wait(), 0) << p.err();
    auto j = nlohmann::json::parse(p.out(), nullptr, false);
    ASSERT_TRUE(j.is_object()) << p.out();
    EXPECT_EQ(j["version"], "9.9.9");
    EXPECT_TRUE(j["loss"].contains("slow_subscriber"));
  }
}

TEST_F(CliTest, StatusTextIsAShortSummary) {
  StartWithEvents(3);
  ClientProcess p({"--socket", socket(), "status", "-o", "text"});
  ASSERT_EQ(p.Wait(), 0) << p.err();
  EXPECT_EQ(p.out().rfind("agent        mailtapd 9.9.9, up ", 0), 0u) << p.out();
  EXPECT_NE(p.out().find("\ncapture      test producer"), std::string::npos) << p.out();
  EXPECT_NE(p.out().find("\nlosses       none\n"), std::string::npos) << p.out();
  EXPECT_LE(std::count(p.out().begin(), p.out().end(), '\n'), 25) << p.out();
}

// Runs the client with a pseudo-terminal as stdout and stderr, as a person would; returns its
// exit status and what it wrote (the terminal's \r\n turned back into \n).
std::pair<int, std::string> RunOnATerminal(std::vector<std::string> args) {
  int master = -1, terminal = -1;
  winsize size{};
  size.ws_col = 100;
  size.ws_row = 40;
  if (::openpty(&master, &terminal, nullptr, nullptr, &size) != 0) return {-1, "openpty failed"};
  args.insert(args.begin(), MAILTAP_CLI_PATH);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  char no_env[] = "TERM=dumb";
  char* envp[] = {no_env, nullptr};
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setsid();
    ::dup2(terminal, 1);
    ::dup2(terminal, 2);
    ::close(master);
    ::execve(MAILTAP_CLI_PATH, argv.data(), envp);
    ::_exit(98);
  }
  ::close(terminal);
  std::string out;
  pollfd p{master, POLLIN, 0};
  char buf[4096];
  ssize_t n;
  while (::poll(&p, 1, testing::kGuardMillis) > 0 && (n = ::read(master, buf, sizeof buf)) > 0) {
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(master);
  int status = 0;
  ::waitpid(pid, &status, 0);
  std::erase(out, '\r');
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST_F(CliTest, StatusOnATerminalIsTheSummaryForPeople) {
  StartWithEvents(0);
  auto [status, out] = RunOnATerminal({"--socket", socket(), "status"});
  ASSERT_EQ(status, 0) << out;
  EXPECT_EQ(out.rfind("agent        mailtapd 9.9.9", 0), 0u) << out;
  EXPECT_EQ(out.find('{'), std::string::npos) << out;
  auto [json_status, json] = RunOnATerminal({"--socket", socket(), "status", "-o", "json"});
  ASSERT_EQ(json_status, 0) << json;
  EXPECT_TRUE(nlohmann::json::parse(json, nullptr, false).is_object()) << json;
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

TEST_F(CliTest, ObserveCompactMarksEventsFromInsideTls) {
  Start(Config());
  Event e = testing::Request(1, 0, "MAIL");
  e.inside_tls = true;
  server_->OnEvent(e);
  ClientProcess p({"--socket", socket(), "observe", "--last", "1", "-o", "compact"});
  ASSERT_EQ(p.Wait(), 0) << p.err();
  EXPECT_NE(p.out().find(" smtp_request [tls] MAIL seq=1\n"), std::string::npos) << p.out();
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

TEST_F(CliTest, CommunityIdFilterReachesTheAgent) {
  StartWithEvents(6);
  ClientProcess p(
      {"--socket", socket(), "observe", "--last", "10", "--community-id", "1:cid1=", "-o", "json"});
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

TEST_F(CliTest, AgentNotRunningExitsOneSayingWhereItLookedAndHowToPointElsewhere) {
  ClientProcess p({"--socket", socket(), "status"});
  EXPECT_EQ(p.Wait(), 1);
  EXPECT_NE(p.err().find("agent not running"), std::string::npos) << p.err();
  EXPECT_NE(p.err().find("no socket at " + socket() + " (given with --socket)"), std::string::npos)
      << p.err();
  EXPECT_NE(p.err().find("MAILTAP_SOCKET"), std::string::npos) << p.err();
  ClientProcess q({"status"}, {"MAILTAP_SOCKET=" + socket()});
  EXPECT_EQ(q.Wait(), 1);
  EXPECT_NE(q.err().find("(from $MAILTAP_SOCKET)"), std::string::npos) << q.err();
}

TEST_F(CliTest, APathThatIsNotASocketExitsOneSayingSo) {
  ClientProcess p({"--socket", "/etc/passwd", "status"});
  EXPECT_EQ(p.Wait(), 1);
  EXPECT_NE(p.err().find("/etc/passwd (given with --socket) is a regular file, not a socket"),
            std::string::npos)
      << p.err();
  EXPECT_EQ(p.err().find("leftover"), std::string::npos) << p.err();
  ClientProcess q({"--socket", dir_.path(), "status"});
  EXPECT_EQ(q.Wait(), 1);
  EXPECT_NE(q.err().find("is a directory, not a socket"), std::string::npos) << q.err();
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

// Runs the client with `args` and checks that it is a usage error (exit 2) whose message holds
// every one of `wanted`.
void ExpectUsageError(std::vector<std::string> args, std::vector<std::string> wanted) {
  ClientProcess p(args);
  EXPECT_EQ(p.Wait(), 2) << p.err();
  EXPECT_EQ(p.out(), "");
  for (const auto& w : wanted)
    EXPECT_NE(p.err().find(w), std::string::npos) << w << " in " << p.err();
}

TEST_F(CliTest, AnUnknownOptionSaysSoAndSuggestsTheNearest) {
  ExpectUsageError({"--sockt", "/x", "status"},
                   {"unknown option '--sockt'", "did you mean --socket?"});
  ExpectUsageError({"observe", "--lst", "5"}, {"unknown option '--lst'", "did you mean --last?"});
  ExpectUsageError({"--last", "5", "observe"},
                   {"'--last' is an option of observe, transactions", "after the command"});
}

TEST_F(CliTest, AnUnknownCommandSuggestsTheNearestAndListsThem) {
  ExpectUsageError({"stauts"}, {"unknown command 'stauts'", "did you mean status?",
                                "status, observe, transactions, connections, metrics"});
  ExpectUsageError({"frobnicate"}, {"unknown command 'frobnicate'", "status, observe"});
}

TEST_F(CliTest, StrayWordsAreUsageErrorsThatNameTheOptionTheyFit) {
  ExpectUsageError({"observe", "smtp_request"},
                   {"unexpected argument 'smtp_request'", "did you mean --event smtp_request?"});
  ExpectUsageError({"connections", "10.0.0.1"}, {"did you mean --address 10.0.0.1?"});
  ExpectUsageError({"transactions", "50"}, {"did you mean --last 50?"});
  ExpectUsageError({"status", "now"}, {"unexpected argument 'now'", "mailtap status --help"});
}

TEST_F(CliTest, OutOfRangeNumbersAreUsageErrors) {
  ExpectUsageError({"observe", "--last", "99999999999999999999999"}, {"--last", "out of range"});
  ExpectUsageError({"observe", "--last", "-5"}, {"--last", "'-5'"});
  ExpectUsageError({"observe", "--port", "70000"}, {"--port", "1-65535"});
  ExpectUsageError({"observe", "--since", "1e300"}, {"--since", "out of range"});
  ExpectUsageError({"observe", "--since", "100000d"}, {"--since", "before 1970"});
  ExpectUsageError({"observe", "--since", "20", "--until", "10"}, {"--until is not after --since"});
}

TEST_F(CliTest, AnUnknownEventNameListsTheEvents) {
  // The events of docs/interface.md ("Events").
  ExpectUsageError({"observe", "--event", "smtp_requst"},
                   {"unknown event 'smtp_requst'", "did you mean smtp_request?", "smtp_request",
                    "smtp_reply", "smtp_data", "smtp_starttls", "smtp_unexpected", "weird",
                    "mime_one_header", "mime_begin_entity", "mime_end_entity"});
  ExpectUsageError({"observe", "--event", "smtp_reply,bogus"}, {"unknown event 'bogus'"});
  ExpectUsageError({"observe", "--direction", "in"}, {"--direction", "orig", "resp"});
}

// "  --socket PATH  text" -> {"--socket", "PATH"} for every option line of a Boost help text.
std::map<std::string, std::string> ValueNames(const std::string& help) {
  std::map<std::string, std::string> names;
  std::istringstream in(help);
  for (std::string line; std::getline(in, line);) {
    std::smatch m;
    static const std::regex kOption(R"(^  (?:-\w \[ )?(--[a-z-]+)(?: \])?(?: (\S+))?)");
    if (std::regex_search(line, m, kOption)) names[m[1]] = m[2];
  }
  return names;
}

std::string HelpOf(const std::string& program, std::vector<std::string> args) {
  std::string command = program;
  for (const auto& a : args) command += " " + a;
  std::string out;
  std::FILE* f = ::popen((command + " 2>&1").c_str(), "r");
  char buf[4096];
  size_t n;
  while (f != nullptr && (n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  if (f != nullptr) ::pclose(f);
  return out;
}

TEST_F(CliTest, HelpUsesTheAgentsValueNames) {
  auto agent = ValueNames(HelpOf(MAILTAPD_PATH, {"--help"}));
  ASSERT_EQ(agent["--socket"], "PATH");
  ASSERT_EQ(agent["--history"], "N");
  ASSERT_EQ(agent["--ports"], "LIST");
  std::map<std::string, std::string> client = ValueNames(HelpOf(MAILTAP_CLI_PATH, {"--help"}));
  for (const char* command : {"status", "observe", "transactions", "connections", "metrics"}) {
    client.merge(ValueNames(HelpOf(MAILTAP_CLI_PATH, {command, "--help"})));
  }
  EXPECT_EQ(client["--socket"], "PATH");
  EXPECT_EQ(client["--last"], "N");
  for (const char* list :
       {"--uid", "--community-id", "--address", "--port", "--event", "--command"}) {
    EXPECT_EQ(client[list], "LIST") << list;
  }
  // Boost's placeholder "arg" says nothing; mailtapd never shows it.
  for (const auto& [option, value] : client) EXPECT_NE(value, "arg") << option;
  for (const auto& [option, value] : agent) EXPECT_NE(value, "arg") << option;
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
