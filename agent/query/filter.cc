#include "query/filter.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <string_view>
#include <variant>

namespace mailtap {
namespace {

char Lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](char x, char y) { return Lower(x) == Lower(y); });
}

bool ContainsIgnoreCase(std::string_view haystack, std::string_view needle) {
  auto it = std::search(haystack.begin(), haystack.end(), needle.begin(), needle.end(),
                        [](char x, char y) { return Lower(x) == Lower(y); });
  return it != haystack.end() || needle.empty();
}

template <typename T>
bool AnyOf(const std::vector<T>& wanted, const T& value) {
  return wanted.empty() || std::find(wanted.begin(), wanted.end(), value) != wanted.end();
}

void AddText(std::vector<std::string>* texts, const std::optional<std::string>& v) {
  if (v) texts->push_back(*v);
}

void AddTexts(std::vector<std::string>* texts, const std::optional<std::vector<std::string>>& v) {
  if (v) texts->insert(texts->end(), v->begin(), v->end());
}

// Per event, where its is_orig is (the filter's direction applies to every event that has one).
constexpr std::array<int, kEventCount> kIsOrigPosition = ArgPositions("is_orig", ArgType::kBool);
static_assert(kIsOrigPosition[static_cast<size_t>(EventId::kSmtpRequest)] ==
              ev::smtp_request::Index::is_orig);

// Per event, where its file id and its media type are (the file events).
constexpr std::array<int, kEventCount> kFuidPosition = ArgPositions("f.id", ArgType::kString);
constexpr std::array<int, kEventCount> kSniffedTypePosition =
    ArgPositions("meta.mime_type", ArgType::kString);
constexpr std::array<int, kEventCount> kFileTypePosition =
    ArgPositions("f.info.mime_type", ArgType::kString);

const std::string* StringArg(const Event& event, const std::array<int, kEventCount>& positions) {
  const int at = positions[static_cast<size_t>(event.id)];
  return at < 0 ? nullptr : std::get_if<std::string>(&event.args[static_cast<size_t>(at)]);
}

void FillFileKeys(const Event& event, FilterKeys* k) {
  const std::string* fuid = StringArg(event, kFuidPosition);
  k->fuids.resize(fuid != nullptr ? 1 : 0);
  if (fuid != nullptr) k->fuids[0].assign(*fuid);
  const std::string* type = StringArg(event, kSniffedTypePosition);
  if (type == nullptr) type = StringArg(event, kFileTypePosition);
  k->mime_type.clear();
  if (type != nullptr) k->mime_type.assign(*type);
}

// "image/*" selects every image type; otherwise the whole type must be equal.
bool MimeTypeMatches(std::string_view wanted, std::string_view type) {
  if (type.empty()) return false;
  if (wanted.size() >= 2 && wanted.substr(wanted.size() - 2) == "/*") {
    wanted.remove_suffix(1);
    return type.size() > wanted.size() && EqualsIgnoreCase(type.substr(0, wanted.size()), wanted);
  }
  return EqualsIgnoreCase(wanted, type);
}

bool MatchesFiles(const Filter& f, const FilterKeys& k) {
  if (!f.fuids.empty() && std::none_of(k.fuids.begin(), k.fuids.end(),
                                       [&](const std::string& id) { return AnyOf(f.fuids, id); })) {
    return false;
  }
  return f.mime_types.empty() ||
         std::any_of(f.mime_types.begin(), f.mime_types.end(),
                     [&](const std::string& t) { return MimeTypeMatches(t, k.mime_type); });
}

// "text match on command/arg": smtp_request's command; smtp_reply's cmd labels the command it
// answers, so `command` filters select requests and their replies alike.
const std::string* CommandOf(const Event& event) {
  if (event.id == EventId::kSmtpRequest) return &Get(event, ev::smtp_request::command);
  if (event.id == EventId::kSmtpReply) return &Get(event, ev::smtp_reply::cmd);
  return nullptr;
}

bool MatchesEndpoints(const Filter& f, const FilterKeys& k) {
  if (!f.addresses.empty()) {
    if (!k.has_conn || !(AnyOf(f.addresses, k.id.orig_h) || AnyOf(f.addresses, k.id.resp_h))) {
      return false;
    }
  }
  if (!f.ports.empty()) {
    if (!k.has_conn || !(AnyOf(f.ports, k.id.orig_p) || AnyOf(f.ports, k.id.resp_p))) return false;
  }
  return true;
}

bool MatchesText(const Filter& f, const FilterKeys& k) {
  if (!f.commands.empty() &&
      std::none_of(f.commands.begin(), f.commands.end(),
                   [&](const std::string& c) { return EqualsIgnoreCase(c, k.command); })) {
    return false;
  }
  if (f.match.empty()) return true;
  return std::any_of(k.texts.begin(), k.texts.end(),
                     [&](const std::string& t) { return ContainsIgnoreCase(t, f.match); });
}

}  // namespace

FilterKeys KeysFromEvent(const Event& event) {
  FilterKeys k;
  FillKeysFromEvent(event, &k);
  return k;
}

void FillKeysFromEvent(const Event& event, FilterKeys* k) {
  k->event.assign(event.name());
  k->ts = event.ts;
  k->has_conn = event.conn != nullptr;
  k->uid.clear();
  k->community_id.clear();
  k->id = ConnId{};
  if (event.conn != nullptr) {
    k->uid.assign(event.conn->uid);
    k->community_id.assign(event.conn->community_id);
    k->id = event.conn->id;
  }
  k->is_orig.reset();
  if (const int at = kIsOrigPosition[static_cast<size_t>(event.id)]; at >= 0) {
    k->is_orig = *std::get_if<bool>(&event.args[static_cast<size_t>(at)]);
  }
  const std::string* command = CommandOf(event);
  k->command.clear();
  if (command != nullptr) k->command.assign(*command);
  size_t texts = 0;
  auto add_text = [&](const std::string& text) {
    if (texts < k->texts.size()) {
      k->texts[texts].assign(text);
    } else {
      k->texts.push_back(text);
    }
    ++texts;
  };
  if (event.id == EventId::kSmtpRequest) {
    add_text(*command);
    add_text(Get(event, ev::smtp_request::arg));
  }
  k->texts.resize(texts);
  FillFileKeys(event, k);
}

FilterKeys KeysFromRecord(const SmtpRecord& r) {
  FilterKeys k;
  k.ts = r.ts;
  k.uid = r.uid;
  k.community_id = r.community_id;
  k.has_conn = true;
  k.id = r.id;
  AddText(&k.texts, r.helo);
  AddText(&k.texts, r.mailfrom);
  AddTexts(&k.texts, r.rcptto);
  AddText(&k.texts, r.from);
  AddTexts(&k.texts, r.to);
  AddTexts(&k.texts, r.cc);
  AddText(&k.texts, r.subject);
  AddText(&k.texts, r.last_reply);
  k.fuids = r.fuids;
  return k;
}

FilterKeys KeysFromConnection(const ConnectionSummary& c) {
  FilterKeys k;
  k.ts = c.start;
  k.uid = c.uid;
  k.community_id = c.community_id;
  k.has_conn = true;
  k.id = c.id;
  k.command = c.smtp_state;
  return k;
}

bool Filter::Matches(const FilterKeys& k) const {
  if (!AnyOf(events, k.event) || !AnyOf(uids, k.uid)) return false;
  if (!AnyOf(community_ids, k.community_id)) return false;
  if (!MatchesEndpoints(*this, k)) return false;
  if (direction) {
    if (!k.is_orig || *k.is_orig != (*direction == Direction::kOrig)) return false;
  }
  if (since && k.ts < *since) return false;
  if (until && !(k.ts < *until)) return false;
  if (!MatchesFiles(*this, k)) return false;
  return MatchesText(*this, k);
}

}  // namespace mailtap
