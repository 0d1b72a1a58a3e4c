#include "smtp/state_machine.h"

#include <gtest/gtest.h>

namespace mailtap::smtp {
namespace {

// Expected values are the rows of the table in spec section 8.
struct Case {
  std::optional<Command> cmd;
  int code;
  State state;
  int uc;
  bool ur;
  Action action;
  std::optional<State> next;
};

void Check(const Case& c) {
  const Decision d = Decide(c.cmd, c.code, c.state);
  const std::string label = std::string(c.cmd ? InternalName(*c.cmd) : "(none)") + " " +
                            std::to_string(c.code) + " in " + std::string(StateName(c.state));
  EXPECT_EQ(d.unexpected_commands, c.uc) << label;
  EXPECT_EQ(d.unexpected_reply, c.ur) << label;
  EXPECT_EQ(d.action, c.action) << label;
  EXPECT_EQ(d.next_state, c.next) << label;
}

constexpr auto N = Action::kNone;
constexpr auto kNo = std::nullopt;

TEST(StateMachine, Greeting) {
  Check({Command::kConnEstablishment, 0, State::kConnected, 0, false, N, State::kInitiated});
  Check({Command::kConnEstablishment, 0, State::kReady, 1, false, N, State::kInitiated});
  Check({Command::kConnEstablishment, 220, State::kInitiated, 0, false, N, kNo});
  Check({Command::kConnEstablishment, 421, State::kInitiated, 0, false, N, State::kNotAvailable});
  Check({Command::kConnEstablishment, 554, State::kReady, 0, false, N, State::kNotAvailable});
  Check({Command::kConnEstablishment, 250, State::kInitiated, 0, true, N, kNo});
}

TEST(StateMachine, EhloHelo) {
  for (Command c : {Command::kEhlo, Command::kHelo}) {
    Check({c, 0, State::kInitiated, 0, false, N, State::kReady});
    Check({c, 0, State::kConnected, 1, false, N, State::kReady});
    Check({c, 250, State::kReady, 0, false, N, kNo});
    for (int code : {421, 500, 501, 504, 550}) {
      Check({c, code, State::kReady, 0, false, N, State::kInitiated});
    }
    Check({c, 502, State::kReady, 0, true, N, kNo});
  }
}

TEST(StateMachine, MailFamily) {
  for (Command c : {Command::kMail, Command::kSend, Command::kSoml, Command::kSaml}) {
    Check({c, 0, State::kReady, 0, false, N, State::kMailOk});
    Check({c, 0, State::kInitiated, 1, false, N, State::kMailOk});
    Check({c, 250, State::kMailOk, 0, false, N, kNo});
    for (int code : {421, 451, 452, 500, 501, 503, 550, 552, 553}) {
      Check({c, code, State::kRcptOk, 0, false, N, State::kReady});
      Check({c, code, State::kInData, 0, false, N, kNo});
      Check({c, code, State::kInBdat, 0, false, N, State::kReady});
    }
    Check({c, 530, State::kMailOk, 0, true, N, kNo});
  }
}

TEST(StateMachine, Rcpt) {
  Check({Command::kRcpt, 0, State::kMailOk, 0, false, N, State::kRcptOk});
  Check({Command::kRcpt, 0, State::kRcptOk, 0, false, N, State::kRcptOk});
  Check({Command::kRcpt, 0, State::kReady, 1, false, N, State::kRcptOk});
  for (int code : {250, 251, 421, 450, 451, 452, 500, 501, 503, 550, 551, 552, 553, 554}) {
    Check({Command::kRcpt, code, State::kRcptOk, 0, false, N, kNo});
  }
  Check({Command::kRcpt, 252, State::kRcptOk, 0, true, N, kNo});
}

TEST(StateMachine, Data) {
  Check({Command::kData, 0, State::kRcptOk, 0, false, Action::kBeginData, State::kInData});
  Check({Command::kData, 0, State::kReady, 1, false, Action::kBeginData, State::kInData});
  Check({Command::kData, 354, State::kInData, 0, false, N, kNo});
  Check({Command::kData, 421, State::kInData, 0, false, Action::kEndDataIfInData, State::kQuit});
  for (int code : {500, 501, 503, 451, 554}) {
    Check(
        {Command::kData, code, State::kInData, 0, false, Action::kEndDataIfInData, State::kReady});
  }
  Check({Command::kData, 250, State::kInData, 0, true, Action::kEndDataIfInData, State::kReady});
}

TEST(StateMachine, EndOfData) {
  Check({Command::kEndOfData, 0, State::kInData, 0, false, Action::kEndData, State::kAfterData});
  Check({Command::kEndOfData, 0, State::kInBdat, 0, false, Action::kEndData, State::kAfterData});
  Check({Command::kEndOfData, 0, State::kReady, 1, false, Action::kEndData, State::kAfterData});
  for (int code : {250, 421, 451, 452, 552, 554}) {
    Check({Command::kEndOfData, code, State::kAfterData, 0, false, N, State::kReady});
  }
  Check({Command::kEndOfData, 500, State::kAfterData, 0, true, N, State::kReady});
}

TEST(StateMachine, RsetAndQuit) {
  Check({Command::kRset, 0, State::kMailOk, 0, false, N, State::kReady});
  Check({Command::kRset, 250, State::kReady, 0, false, N, kNo});
  Check({Command::kRset, 500, State::kReady, 0, true, N, kNo});
  Check({Command::kQuit, 0, State::kReady, 0, false, N, State::kQuit});
  Check({Command::kQuit, 221, State::kQuit, 0, false, N, kNo});
  Check({Command::kQuit, 250, State::kQuit, 0, true, N, kNo});
}

TEST(StateMachine, AuthAndAnswersCheckAtCommandAndReplyTime) {
  Check({Command::kAuth, 0, State::kReady, 0, false, N, kNo});
  Check({Command::kAuth, 0, State::kInitiated, 1, false, N, kNo});
  Check({Command::kAuth, 334, State::kReady, 0, false, N, State::kInAuth});
  Check({Command::kAuth, 334, State::kInitiated, 1, false, N, State::kInAuth});
  for (int code : {235, 432, 454, 501, 503, 504, 534, 535, 538, 250}) {
    Check({Command::kAuth, code, State::kReady, 0, false, N, State::kInitiated});
  }
  Check({Command::kAuthAnswer, 0, State::kInAuth, 0, false, N, kNo});
  Check({Command::kAuthAnswer, 0, State::kReady, 1, false, N, kNo});
  Check({Command::kAuthAnswer, 334, State::kInAuth, 0, false, N, State::kInAuth});
  Check({Command::kAuthAnswer, 235, State::kInAuth, 0, false, N, State::kInitiated});
  Check({Command::kAuthAnswer, 535, State::kReady, 1, false, N, State::kInitiated});
}

TEST(StateMachine, Turn) {
  Check({Command::kTurn, 0, State::kReady, 0, false, N, kNo});
  Check({Command::kTurn, 0, State::kMailOk, 1, false, N, kNo});
  Check({Command::kTurn, 250, State::kReady, 0, false, Action::kFlipSender, State::kConnected});
  Check({Command::kTurn, 502, State::kReady, 0, false, N, kNo});
  Check({Command::kTurn, 502, State::kMailOk, 1, false, N, kNo});
}

TEST(StateMachine, StartTlsAndXAnonymousTls) {
  for (Command c : {Command::kStartTls, Command::kXAnonymousTls}) {
    Check({c, 0, State::kReady, 0, false, N, kNo});
    Check({c, 0, State::kInitiated, 1, false, N, kNo});
    Check({c, 220, State::kReady, 0, false, Action::kStartTls, State::kInTls});
    Check({c, 220, State::kInitiated, 1, false, Action::kStartTls, State::kInTls});
    Check({c, 454, State::kReady, 0, false, N, kNo});
    Check({c, 501, State::kReady, 0, false, N, kNo});
  }
}

TEST(StateMachine, Bdat) {
  Check({Command::kBdat, 0, State::kInBdat, 1, false, N, State::kInBdat});
  Check({Command::kBdat, 0, State::kRcptOk, 0, false, N, State::kInBdat});
  for (int code : {250, 421, 500, 501, 503, 451, 554}) {
    Check({Command::kBdat, code, State::kInBdat, 0, false, N, kNo});
  }
  Check({Command::kBdat, 552, State::kInBdat, 0, true, N, kNo});
}

TEST(StateMachine, CommandsWithoutRules) {
  for (std::optional<Command> c :
       {std::optional(Command::kVrfy), std::optional(Command::kExpn), std::optional(Command::kHelp),
        std::optional(Command::kNoop), std::optional(Command::kEtrn), std::optional<Command>()}) {
    if (c) Check({c, 0, State::kMailOk, 0, false, N, kNo});
    Check({c, 250, State::kMailOk, 0, false, N, kNo});
    Check({c, 354, State::kMailOk, 0, false, N, kNo});
    Check({c, 354, State::kGapRecovery, 0, false, Action::kBeginData, State::kInData});
  }
}

TEST(StateMachine, CommandsInQuitStateRaiseUnexpectedOnceOrTwice) {
  Check({Command::kEhlo, 0, State::kQuit, 2, false, N, State::kReady});
  Check({Command::kMail, 0, State::kQuit, 2, false, N, State::kMailOk});
  Check({Command::kAuth, 0, State::kQuit, 2, false, N, kNo});
  Check({Command::kRset, 0, State::kQuit, 1, false, N, State::kReady});
  Check({Command::kQuit, 0, State::kQuit, 1, false, N, State::kQuit});
  Check({Command::kNoop, 0, State::kQuit, 1, false, N, kNo});
  // Replies are not commands: the QUIT-state rule does not apply to them.
  Check({Command::kQuit, 221, State::kQuit, 0, false, N, kNo});
}

TEST(StateMachine, StateNames) {
  EXPECT_EQ(StateName(State::kConnected), "CONNECTED");
  EXPECT_EQ(StateName(State::kNotAvailable), "NOT_AVAILABLE");
  EXPECT_EQ(StateName(State::kGapRecovery), "GAP_RECOVERY");
  EXPECT_EQ(StateName(State::kInBdat), "IN_BDAT");
  EXPECT_EQ(StateNumber(State::kInBdat), 13);
}

}  // namespace
}  // namespace mailtap::smtp
