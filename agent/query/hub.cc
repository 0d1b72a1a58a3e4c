#include "query/hub.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <type_traits>
#include <utility>

#include "sinks/event_json.h"
#include "sinks/smtp_log_writer.h"

namespace mailtap {
namespace {

// Entries are written and read by this process only: native byte order; an event's arguments
// are stored in the order and types its declaration gives (mailtap/event_list.h).
enum class Kind : uint8_t { kEvent = 0, kRecord = 1 };

static_assert(std::is_trivially_copyable_v<ConnId> && std::is_trivially_copyable_v<Timestamp>);

constexpr size_t BytesSize(std::string_view s) { return sizeof(uint32_t) + s.size(); }

class EntryWriter {
 public:
  explicit EntryWriter(uint8_t* p) : p_(p) {}
  template <typename T>
  void Put(const T& value) {
    std::memcpy(p_, &value, sizeof value);
    p_ += sizeof value;
  }
  void PutBytes(std::string_view s) {
    Put(static_cast<uint32_t>(s.size()));
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }

 private:
  uint8_t* p_;
};

class EntryReader {
 public:
  explicit EntryReader(const uint8_t* p) : p_(p) {}
  template <typename T>
  T Get() {
    T value;
    std::memcpy(&value, p_, sizeof value);
    p_ += sizeof value;
    return value;
  }
  std::string_view GetBytes() {
    const auto size = Get<uint32_t>();
    std::string_view s(reinterpret_cast<const char*>(p_), size);
    p_ += size;
    return s;
  }
  const uint8_t* position() const { return p_; }

 private:
  const uint8_t* p_;
};

size_t ValueSize(const EventValue& value) {
  if (const auto* s = std::get_if<std::string>(&value)) return BytesSize(*s);
  return std::holds_alternative<bool>(value) ? 1 : sizeof(int64_t);
}

// Event: kind, flags, ts, id, [uid, conn id, community id, [pid, process name, cgroup id]], the
// argument values (their number, order and types come from the event's schema).
enum EventFlags : uint8_t { kHasConn = 1, kInsideTls = 2, kHasProcess = 4 };

uint8_t FlagsOf(const Event& e) {
  unsigned flags = e.inside_tls ? kInsideTls : 0;
  if (e.conn != nullptr) flags |= kHasConn;
  if (e.conn != nullptr && e.conn->process) flags |= kHasProcess;
  return static_cast<uint8_t>(flags);
}

size_t ProcessSize(const OwnerProcess& p) {
  return sizeof(uint32_t) + BytesSize(p.name) + sizeof(uint64_t);
}

size_t EventEntrySize(const Event& e) {
  size_t n = 2 + sizeof(Timestamp) + sizeof(EventId);
  if (e.conn != nullptr) {
    n += BytesSize(e.conn->uid) + sizeof(ConnId) + BytesSize(e.conn->community_id);
  }
  if (e.conn != nullptr && e.conn->process) n += ProcessSize(*e.conn->process);
  for (const EventValue& value : e.args) n += ValueSize(value);
  return n;
}

void WriteEventEntry(const Event& e, uint8_t* p) {
  EntryWriter w(p);
  w.Put(Kind::kEvent);
  w.Put(FlagsOf(e));
  w.Put(e.ts);
  w.Put(e.id);
  if (e.conn != nullptr) {
    w.PutBytes(e.conn->uid);
    w.Put(e.conn->id);
    w.PutBytes(e.conn->community_id);
    if (const auto& process = e.conn->process) {
      w.Put(process->pid);
      w.PutBytes(process->name);
      w.Put(process->cgroup_id);
    }
  }
  for (const EventValue& value : e.args) {
    if (const auto* b = std::get_if<bool>(&value)) {
      w.Put(static_cast<uint8_t>(*b));
    } else if (const auto* i = std::get_if<int64_t>(&value)) {
      w.Put(*i);
    } else {
      w.PutBytes(*std::get_if<std::string>(&value));
    }
  }
}

void ReadEventArgs(EntryReader& in, Event& event) {
  const EventSchema& schema = SchemaOf(event.id);
  event.args.resize(schema.args.size());
  for (size_t i = 0; i < schema.args.size(); ++i) {
    switch (schema.args[i].type) {
      case ArgType::kBool:
        event.args[i] = in.Get<uint8_t>() != 0;
        break;
      case ArgType::kCount:
        event.args[i] = in.Get<int64_t>();
        break;
      case ArgType::kString:
        event.args[i] = std::string(in.GetBytes());
        break;
    }
  }
}

// Record: kind, then every SmtpRecord field in order (RecordFields), each as below.
template <typename Record, typename F>
void RecordFields(Record& r, F&& f) {
  f(r.ts), f(r.uid), f(r.id), f(r.trans_depth), f(r.helo), f(r.mailfrom), f(r.rcptto);
  f(r.date), f(r.from), f(r.to), f(r.cc), f(r.reply_to), f(r.msg_id), f(r.in_reply_to);
  f(r.subject), f(r.x_originating_ip), f(r.first_received), f(r.second_received);
  f(r.last_reply), f(r.path), f(r.user_agent), f(r.tls), f(r.fuids), f(r.proc);
  f(r.community_id);
}

// Field encodings: plain values copied, strings with their length, optionals with a presence
// byte, vectors with their count.
struct FieldSizer {
  size_t size = 0;
  template <typename T>
  void operator()(const T&) {
    static_assert(std::is_trivially_copyable_v<T>);
    size += sizeof(T);
  }
  void operator()(const std::string& s) { size += BytesSize(s); }
  void operator()(const OwnerProcess& p) { size += ProcessSize(p); }
  template <typename T>
  void operator()(const std::optional<T>& v) {
    size += 1;
    if (v) (*this)(*v);
  }
  template <typename T>
  void operator()(const std::vector<T>& v) {
    size += sizeof(uint32_t);
    for (const T& x : v) (*this)(x);
  }
};

struct FieldWriter {
  EntryWriter& w;
  template <typename T>
  void operator()(const T& v) {
    w.Put(v);
  }
  void operator()(const std::string& s) { w.PutBytes(s); }
  void operator()(const OwnerProcess& p) {
    w.Put(p.pid);
    w.PutBytes(p.name);
    w.Put(p.cgroup_id);
  }
  template <typename T>
  void operator()(const std::optional<T>& v) {
    w.Put(static_cast<uint8_t>(v.has_value()));
    if (v) (*this)(*v);
  }
  template <typename T>
  void operator()(const std::vector<T>& v) {
    w.Put(static_cast<uint32_t>(v.size()));
    for (const T& x : v) (*this)(x);
  }
};

struct FieldReader {
  EntryReader& in;
  template <typename T>
  void operator()(T& v) {
    v = in.Get<T>();
  }
  void operator()(std::string& s) { s = in.GetBytes(); }
  void operator()(OwnerProcess& p) {
    p.pid = in.Get<uint32_t>();
    p.name = in.GetBytes();
    p.cgroup_id = in.Get<uint64_t>();
  }
  template <typename T>
  void operator()(std::optional<T>& v) {
    if (in.Get<uint8_t>() == 0) return v.reset();
    (*this)(v.emplace());
  }
  template <typename T>
  void operator()(std::vector<T>& v) {
    v.resize(in.Get<uint32_t>());
    for (T& x : v) (*this)(x);
  }
};

size_t RecordEntrySize(const SmtpRecord& r) {
  FieldSizer sizer;
  RecordFields(r, sizer);
  return 1 + sizer.size;
}

void WriteRecordEntry(const SmtpRecord& r, uint8_t* p) {
  EntryWriter w(p);
  w.Put(Kind::kRecord);
  RecordFields(r, FieldWriter{w});
}

}  // namespace

const std::string& Item::Json() const {
  if (!has_json_) {
    if (record_) {
      json_ = FormatRecordJson(*record_);
    } else {
      AppendEventJson(event_, &json_);
    }
    has_json_ = true;
  }
  return json_;
}

Hub::Hub(Limits limits, std::function<void()> wake)
    : limits_(limits),
      wake_(std::move(wake)),
      rings_{
          EntryRing(std::max(limits.event_history, limits.queue_capacity), limits.event_bytes),
          EntryRing(std::max(limits.record_history, limits.queue_capacity), limits.record_bytes)},
      cache_{std::vector<CacheSlot>(kCacheSlots), std::vector<CacheSlot>(kCacheSlots)} {}

void Hub::PublishEvent(const Event& event) {
  Publish(Stream::kEvents, EventEntrySize(event),
          [&event](uint8_t* entry) { WriteEventEntry(event, entry); });
}

void Hub::PublishRecord(const SmtpRecord& record) {
  Publish(Stream::kRecords, RecordEntrySize(record),
          [&record](uint8_t* entry) { WriteRecordEntry(record, entry); });
}

template <typename WriteEntry>
void Hub::Publish(Stream stream, size_t size, WriteEntry write_entry) {
  const int s = static_cast<int>(stream);
  bool wake;
  {
    std::lock_guard lock(mu_);
    EntryRing& r = ring(stream);
    if (size > r.max_entry_bytes()) {
      ++oversize_dropped_[s];
    } else {
      write_entry(r.Append(size));
    }
    ++published_[s];
    AfterPublish(stream);
    wake = followers_[s] > 0;
  }
  if (wake && wake_) wake_();
}

// Locked. A follower more than queue_capacity entries behind, or behind the oldest entry kept,
// loses what it has not read.
void Hub::AfterPublish(Stream stream) {
  if (followers_[static_cast<int>(stream)] == 0) return;
  const EntryRing& r = ring(stream);
  const uint64_t keep_from =
      std::max(r.tail(), r.head() - std::min<uint64_t>(r.head(), limits_.queue_capacity));
  for (auto& sub : subscriptions_) {
    if (sub->stream_ != stream || sub->next_ >= keep_from) continue;
    const uint64_t lost = keep_from - sub->next_;
    sub->next_ = keep_from;
    sub->lost_unreported_ += lost;
    slow_subscriber_lost_[static_cast<int>(stream)] += lost;
  }
}

size_t Hub::history_limit(Stream stream) const {
  return stream == Stream::kEvents ? limits_.event_history : limits_.record_history;
}

std::vector<Hub::Slot> Hub::Collect(Stream stream, uint64_t from, uint64_t to) {
  std::vector<Slot> slots;
  slots.reserve(to - from);
  raw_.clear();
  const auto& cache = cache_[static_cast<int>(stream)];
  for (uint64_t seq = from; seq < to; ++seq) {
    const CacheSlot& cached = cache[seq % kCacheSlots];
    if (cached.seq == seq) {
      slots.push_back(Slot{seq, cached.item});
      continue;
    }
    std::span<const uint8_t> bytes = ring(stream).Get(seq);
    slots.push_back(Slot{seq, nullptr, raw_.size()});
    raw_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  return slots;
}

const ItemPtr& Hub::Materialize(Stream stream, Slot& slot) {
  if (slot.item) return slot.item;
  auto item = std::make_shared<Item>();
  const auto* start = reinterpret_cast<const uint8_t*>(raw_.data() + slot.offset);
  EntryReader in(start);
  if (in.Get<Kind>() == Kind::kEvent) {
    const uint8_t flags = in.Get<uint8_t>();
    item->event_.inside_tls = (flags & kInsideTls) != 0;
    item->event_.ts = in.Get<Timestamp>();
    item->event_.id = in.Get<EventId>();
    if ((flags & kHasConn) != 0) {
      item->conn_.uid = in.GetBytes();
      item->conn_.id = in.Get<ConnId>();
      item->conn_.community_id = in.GetBytes();
      if ((flags & kHasProcess) != 0) {
        OwnerProcess& p = item->conn_.process.emplace();
        p.pid = in.Get<uint32_t>();
        p.name = in.GetBytes();
        p.cgroup_id = in.Get<uint64_t>();
      }
      item->event_.conn = &item->conn_;
    }
    ReadEventArgs(in, item->event_);
    FillKeysFromEvent(item->event_, &item->keys_);
  } else {
    RecordFields(item->record_.emplace(), FieldReader{in});
    item->keys_ = KeysFromRecord(*item->record_);
  }
  item->encoded_bytes_ = static_cast<size_t>(in.position() - start);
  cache_[static_cast<int>(stream)][slot.seq % kCacheSlots] = CacheSlot{slot.seq, item};
  slot.item = std::move(item);
  return slot.item;
}

Hub::Start Hub::Subscribe(Stream stream, const Filter& filter, size_t last, bool follow) {
  Start start;
  uint64_t end;     // the backlog lies before this entry; a subscription starts at it
  uint64_t oldest;  // the oldest entry the backlog may hold
  {
    std::lock_guard lock(mu_);
    const EntryRing& r = ring(stream);
    end = r.head();
    oldest = end - std::min<uint64_t>(r.size(), history_limit(stream));
    if (follow) {
      start.subscription = std::make_shared<Subscription>(stream, filter, end);
      subscriptions_.push_back(start.subscription);
      ++followers_[static_cast<int>(stream)];
    }
  }
  // Newest first, a batch at a time and only as far back as needed: copying the whole history
  // under the lock for `--last 10` would stall the pipeline for nothing. Entries the ring
  // overwrites meanwhile were older than those it still holds.
  while (start.backlog.size() < last) {
    std::vector<Slot> slots;
    {
      std::lock_guard lock(mu_);
      oldest = std::max(oldest, ring(stream).tail());
      if (end <= oldest) break;
      const uint64_t from = std::max(oldest, end - std::min(end, kReadBatch));
      slots = Collect(stream, from, end);
      end = from;
    }
    for (auto it = slots.rbegin(); it != slots.rend() && start.backlog.size() < last; ++it) {
      const ItemPtr& item = Materialize(stream, *it);
      if (filter.Matches(item->Keys())) start.backlog.push_back(item);
    }
  }
  std::reverse(start.backlog.begin(), start.backlog.end());
  return start;
}

void Hub::Unsubscribe(const std::shared_ptr<Subscription>& subscription) {
  std::lock_guard lock(mu_);
  if (std::erase(subscriptions_, subscription) > 0) {
    --followers_[static_cast<int>(subscription->stream_)];
  }
}

uint64_t Hub::Take(Subscription& sub, size_t max, std::vector<ItemPtr>* out) {
  uint64_t lost = 0;
  for (bool first = true; out->size() < max; first = false) {
    std::vector<Slot> slots;
    {
      std::lock_guard lock(mu_);
      // A loss after the first batch belongs after the items already taken: report it next time.
      if (!first && sub.lost_unreported_ > 0) break;
      lost += std::exchange(sub.lost_unreported_, 0);
      const uint64_t end = std::min(ring(sub.stream_).head(), sub.next_ + kReadBatch);
      slots = Collect(sub.stream_, sub.next_, end);
      sub.next_ = end;
    }
    if (slots.empty()) break;
    for (Slot& slot : slots) {
      const ItemPtr& item = Materialize(sub.stream_, slot);
      if (sub.filter_.Matches(item->Keys())) out->push_back(item);
    }
  }
  return lost;
}

uint64_t Hub::slow_subscriber_lost(Stream stream) const {
  std::lock_guard lock(mu_);
  return slow_subscriber_lost_[static_cast<int>(stream)];
}

uint64_t Hub::oversize_dropped(Stream stream) const {
  std::lock_guard lock(mu_);
  return oversize_dropped_[static_cast<int>(stream)];
}

uint64_t Hub::published(Stream stream) const {
  std::lock_guard lock(mu_);
  return published_[static_cast<int>(stream)];
}

size_t Hub::subscribers() const {
  std::lock_guard lock(mu_);
  return subscriptions_.size();
}

size_t Hub::history_size(Stream stream) const {
  std::lock_guard lock(mu_);
  return std::min(ring(stream).size(), history_limit(stream));
}

}  // namespace mailtap
