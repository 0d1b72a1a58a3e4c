#include "query/filter.h"

#include <algorithm>
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

const std::string* StringArg(const Event& event, std::string_view name) {
  const EventValue* v = event.Find(name);
  return v ? std::get_if<std::string>(v) : nullptr;
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
  k->event.assign(event.name);
  k->ts = event.ts;
  k->has_conn = event.conn != nullptr;
  k->uid.clear();
  k->id = ConnId{};
  if (event.conn != nullptr) {
    k->uid.assign(event.conn->uid);
    k->id = event.conn->id;
  }
  k->is_orig.reset();
  if (const EventValue* v = event.Find("is_orig")) {
    if (const bool* b = std::get_if<bool>(v)) k->is_orig = *b;
  }
  // "text match on command/arg": smtp_request's command and arg; smtp_reply's cmd labels the
  // command it answers, so `command` filters select requests and their replies alike.
  const std::string* command = StringArg(event, "command");
  if (command == nullptr) command = StringArg(event, "cmd");
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
  if (event.name == event_names::kSmtpRequest) {
    if (command != nullptr) add_text(*command);
    if (const std::string* arg = StringArg(event, "arg")) add_text(*arg);
  }
  k->texts.resize(texts);
}

FilterKeys KeysFromRecord(const SmtpRecord& r) {
  FilterKeys k;
  k.ts = r.ts;
  k.uid = r.uid;
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
  return k;
}

FilterKeys KeysFromConnection(const ConnectionSummary& c) {
  FilterKeys k;
  k.ts = c.start;
  k.uid = c.uid;
  k.has_conn = true;
  k.id = c.id;
  k.command = c.smtp_state;
  return k;
}

bool Filter::Matches(const FilterKeys& k) const {
  if (!AnyOf(events, k.event) || !AnyOf(uids, k.uid)) return false;
  if (!MatchesEndpoints(*this, k)) return false;
  if (direction) {
    if (!k.is_orig || *k.is_orig != (*direction == Direction::kOrig)) return false;
  }
  if (since && k.ts < *since) return false;
  if (until && !(k.ts < *until)) return false;
  return MatchesText(*this, k);
}

}  // namespace mailtap
