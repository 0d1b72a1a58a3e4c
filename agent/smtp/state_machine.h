// The SMTP session state machine (spec section 8) as a pure decision function over a transition
// table. The session applies the decision: it raises the events and performs the action.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "smtp/protocol.h"

namespace mailtap::smtp {

// Zeek's states; the numeric value appears in "unexpected command"/"unexpected reply" details.
enum class State : uint8_t {
  kConnected = 0,
  kInitiated = 1,
  kNotAvailable = 2,
  kReady = 3,
  kMailOk = 4,
  kRcptOk = 5,
  kInData = 6,
  kAfterData = 7,
  kInAuth = 8,
  kInTls = 9,
  kQuit = 10,
  kAfterGap = 11,
  kGapRecovery = 12,
  kInBdat = 13,
};

// "CONNECTED", "INITIATED", ..., "IN_BDAT".
std::string_view StateName(State state);
inline int StateNumber(State state) { return static_cast<int>(state); }

// Side effects a transition asks for, performed before the state change.
enum class Action : uint8_t {
  kNone,
  kBeginData,        // start a DATA message (spec 9)
  kEndDataIfInData,  // close the message, but only if the state is IN_DATA
  kEndData,          // close the message
  kStartTls,         // smtp_starttls; the analyzer stops parsing (spec 11)
  kFlipSender,       // TURN accepted: the other side becomes the sender (spec 13)
};

// What running the machine with (command, reply code) means. Events come in this order:
// `unexpected_commands` UC events, then UR, then the action, then the new state.
struct Decision {
  int unexpected_commands = 0;  // 0, 1 or 2 (the QUIT-state rule plus the command's own check)
  bool unexpected_reply = false;
  Action action = Action::kNone;
  std::optional<State> next_state;
};

// `cmd` is the command being issued (code 0, "command time") or the command the reply answers
// (code 100..599, "reply time"; nullopt when nothing was pending). `state` is the current state.
Decision Decide(std::optional<Command> cmd, int code, State state);

}  // namespace mailtap::smtp
