#include "smtp/state_machine.h"

#include <array>
#include <span>

namespace mailtap::smtp {

namespace {

using StateMask = uint16_t;

constexpr StateMask Bit(State s) { return static_cast<StateMask>(1u << static_cast<unsigned>(s)); }
constexpr StateMask kAnyState = 0xffff;

// When an outcome applies.
enum class Guard : uint8_t {
  kAlways,
  kUnlessInData,       // MAIL-family failures do not reset the state while IN_DATA
  kOnlyInGapRecovery,  // a 354 with no known command starts a message only in GAP_RECOVERY
};

struct Outcome {
  bool unexpected_reply = false;
  Action action = Action::kNone;
  std::optional<State> next_state;
  Guard guard = Guard::kAlways;
};

struct ReplyRule {
  std::span<const uint16_t> codes;
  Outcome outcome;
};

// One row of the table in spec section 8.
struct Row {
  StateMask expected;   // "unexpected command" unless the current state is in this set
  bool check_at_reply;  // AUTH, AUTH_ANSWER, TURN, STARTTLS also check when the reply arrives
  Outcome at_command;
  std::span<const ReplyRule> replies;
  Outcome otherwise;  // any reply code not listed
};

constexpr Outcome Make(bool unexpected_reply, Action action, std::optional<State> next,
                       Guard guard = Guard::kAlways) {
  return Outcome{unexpected_reply, action, next, guard};
}
constexpr Outcome kNothing = Make(false, Action::kNone, std::nullopt);
constexpr Outcome kUnexpectedReply = Make(true, Action::kNone, std::nullopt);
constexpr Outcome Goto(State s) { return Make(false, Action::kNone, s); }

constexpr uint16_t k220[] = {220};
constexpr uint16_t k221[] = {221};
constexpr uint16_t k250[] = {250};
constexpr uint16_t k334[] = {334};
constexpr uint16_t k354[] = {354};
constexpr uint16_t k421[] = {421};
constexpr uint16_t kGreetingRefused[] = {421, 554};
constexpr uint16_t kHeloRefused[] = {421, 500, 501, 504, 550};
constexpr uint16_t kMailRefused[] = {421, 451, 452, 500, 501, 503, 550, 552, 553};
constexpr uint16_t kRcptReplies[] = {250, 251, 421, 450, 451, 452, 500,
                                     501, 503, 550, 551, 552, 553, 554};
constexpr uint16_t kDataRefused[] = {500, 501, 503, 451, 554};
constexpr uint16_t kEndOfDataKnown[] = {250, 421, 451, 452, 552, 554};
constexpr uint16_t kBdatKnown[] = {250, 421, 500, 501, 503, 451, 554};

constexpr ReplyRule kGreetingRules[] = {{k220, kNothing},
                                        {kGreetingRefused, Goto(State::kNotAvailable)}};
constexpr ReplyRule kHeloRules[] = {{k250, kNothing}, {kHeloRefused, Goto(State::kInitiated)}};
constexpr ReplyRule kMailRules[] = {
    {k250, kNothing},
    {kMailRefused, Make(false, Action::kNone, State::kReady, Guard::kUnlessInData)}};
constexpr ReplyRule kRcptRules[] = {{kRcptReplies, kNothing}};
constexpr ReplyRule kDataRules[] = {
    {k354, kNothing},
    {k421, Make(false, Action::kEndDataIfInData, State::kQuit)},
    {kDataRefused, Make(false, Action::kEndDataIfInData, State::kReady)}};
constexpr ReplyRule kEndOfDataRules[] = {{kEndOfDataKnown, Goto(State::kReady)}};
constexpr ReplyRule kRsetRules[] = {{k250, kNothing}};
constexpr ReplyRule kQuitRules[] = {{k221, kNothing}};
constexpr ReplyRule kAuthRules[] = {{k334, Goto(State::kInAuth)}};
constexpr ReplyRule kTurnRules[] = {{k250, Make(false, Action::kFlipSender, State::kConnected)}};
constexpr ReplyRule kTlsRules[] = {{k220, Make(false, Action::kStartTls, State::kInTls)}};
constexpr ReplyRule kBdatRules[] = {{kBdatKnown, kNothing}};
constexpr ReplyRule kOtherRules[] = {
    {k354, Make(false, Action::kBeginData, State::kInData, Guard::kOnlyInGapRecovery)}};

constexpr Row kGreetingRow{Bit(State::kConnected), false, Goto(State::kInitiated), kGreetingRules,
                           kUnexpectedReply};
constexpr Row kHeloRow{Bit(State::kInitiated), false, Goto(State::kReady), kHeloRules,
                       kUnexpectedReply};
constexpr Row kMailRow{Bit(State::kReady), false, Goto(State::kMailOk), kMailRules,
                       kUnexpectedReply};
constexpr Row kRcptRow{Bit(State::kMailOk) | Bit(State::kRcptOk), false, Goto(State::kRcptOk),
                       kRcptRules, kUnexpectedReply};
constexpr Row kDataRow{Bit(State::kRcptOk), false, Make(false, Action::kBeginData, State::kInData),
                       kDataRules, Make(true, Action::kEndDataIfInData, State::kReady)};
constexpr Row kEndOfDataRow{Bit(State::kInData) | Bit(State::kInBdat), false,
                            Make(false, Action::kEndData, State::kAfterData), kEndOfDataRules,
                            Make(true, Action::kNone, State::kReady)};
constexpr Row kRsetRow{kAnyState, false, Goto(State::kReady), kRsetRules, kUnexpectedReply};
constexpr Row kQuitRow{kAnyState, false, Goto(State::kQuit), kQuitRules, kUnexpectedReply};
constexpr Row kAuthRow{Bit(State::kReady), true, kNothing, kAuthRules, Goto(State::kInitiated)};
constexpr Row kAuthAnswerRow{Bit(State::kInAuth), true, kNothing, kAuthRules,
                             Goto(State::kInitiated)};
constexpr Row kTurnRow{Bit(State::kReady), true, kNothing, kTurnRules, kNothing};
constexpr Row kTlsRow{Bit(State::kReady), true, kNothing, kTlsRules, kNothing};
constexpr Row kBdatRow{Bit(State::kRcptOk), false, Goto(State::kInBdat), kBdatRules,
                       kUnexpectedReply};
constexpr Row kOtherRow{kAnyState, false, kNothing, kOtherRules, kNothing};

const Row& RowFor(std::optional<Command> cmd) {
  if (!cmd) return kOtherRow;
  switch (*cmd) {
    case Command::kConnEstablishment:
      return kGreetingRow;
    case Command::kEhlo:
    case Command::kHelo:
      return kHeloRow;
    case Command::kMail:
    case Command::kSend:
    case Command::kSoml:
    case Command::kSaml:
      return kMailRow;
    case Command::kRcpt:
      return kRcptRow;
    case Command::kData:
      return kDataRow;
    case Command::kEndOfData:
      return kEndOfDataRow;
    case Command::kRset:
      return kRsetRow;
    case Command::kQuit:
      return kQuitRow;
    case Command::kAuth:
      return kAuthRow;
    case Command::kAuthAnswer:
      return kAuthAnswerRow;
    case Command::kTurn:
      return kTurnRow;
    case Command::kStartTls:
    case Command::kXAnonymousTls:
      return kTlsRow;
    case Command::kBdat:
      return kBdatRow;
    case Command::kVrfy:
    case Command::kExpn:
    case Command::kHelp:
    case Command::kNoop:
    case Command::kEtrn:
      return kOtherRow;
  }
  return kOtherRow;
}

const Outcome& OutcomeForReply(const Row& row, int code) {
  for (const ReplyRule& rule : row.replies) {
    for (const uint16_t c : rule.codes) {
      if (c == code) return rule.outcome;
    }
  }
  return row.otherwise;
}

bool GuardHolds(Guard guard, State state) {
  switch (guard) {
    case Guard::kAlways:
      return true;
    case Guard::kUnlessInData:
      return state != State::kInData;
    case Guard::kOnlyInGapRecovery:
      return state == State::kGapRecovery;
  }
  return true;
}

}  // namespace

std::string_view StateName(State state) {
  static constexpr std::array<std::string_view, 14> kNames = {
      "CONNECTED",  "INITIATED", "NOT_AVAILABLE", "READY", "MAIL_OK",   "RCPT_OK",      "IN_DATA",
      "AFTER_DATA", "IN_AUTH",   "IN_TLS",        "QUIT",  "AFTER_GAP", "GAP_RECOVERY", "IN_BDAT"};
  return kNames[static_cast<size_t>(state)];
}

Decision Decide(std::optional<Command> cmd, int code, State state) {
  Decision d;
  const bool at_command = code == 0;
  // Global rule: any command issued while in QUIT is unexpected (checked before the row's own).
  if (at_command && state == State::kQuit) ++d.unexpected_commands;
  const Row& row = RowFor(cmd);
  if ((at_command || row.check_at_reply) && (row.expected & Bit(state)) == 0) {
    ++d.unexpected_commands;
  }
  const Outcome& o = at_command ? row.at_command : OutcomeForReply(row, code);
  d.unexpected_reply = o.unexpected_reply;
  if (GuardHolds(o.guard, state)) {
    d.action = o.action;
    d.next_state = o.next_state;
  }
  return d;
}

}  // namespace mailtap::smtp
