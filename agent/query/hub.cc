#include "query/hub.h"

#include <algorithm>
#include <atomic>
#include <utility>

namespace mailtap {

Hub::Hub(Limits limits, std::function<void()> wake) : limits_(limits), wake_(std::move(wake)) {}

void Hub::Publish(Stream stream, ItemPtr item) {
  bool delivered = false;
  {
    std::lock_guard lock(mu_);
    auto& history = history_[static_cast<int>(stream)];
    size_t cap = stream == Stream::kEvents ? limits_.event_history : limits_.record_history;
    if (cap > 0) {
      if (history.size() >= cap) {
        // use_count 1 under the lock: only the history holds it, and nobody can take a new
        // reference without the lock, so it may be refilled.
        if (history.front().use_count() == 1) {
          // use_count() is a relaxed read: the fence orders our later writes to the item after
          // the other thread's reads, which its (release) reference drop published.
          std::atomic_thread_fence(std::memory_order_acquire);
          spare_[static_cast<int>(stream)] = std::const_pointer_cast<Item>(history.front());
        }
        history.pop_front();
      }
      history.push_back(item);
    }
    ++published_[static_cast<int>(stream)];
    for (auto& sub : subscriptions_) {
      if (sub->stream_ != stream || !sub->filter_.Matches(item->keys)) continue;
      // Never wait for a slow reader: drop its oldest item instead (capture must not stall).
      if (sub->queue_.size() >= sub->capacity_) {
        sub->queue_.pop_front();
        ++sub->lost_unreported_;
        ++slow_subscriber_lost_;
      }
      sub->queue_.push_back(item);
      delivered = true;
    }
  }
  if (delivered && wake_) wake_();
}

std::shared_ptr<Item> Hub::Reusable(Stream stream) {
  std::shared_ptr<Item> item;
  {
    std::lock_guard lock(mu_);
    item = std::move(spare_[static_cast<int>(stream)]);
  }
  return item ? item : std::make_shared<Item>();
}

Hub::Start Hub::Subscribe(Stream stream, const Filter& filter, size_t last, bool follow) {
  Start start;
  std::lock_guard lock(mu_);
  const auto& history = history_[static_cast<int>(stream)];
  for (auto it = history.rbegin(); it != history.rend() && start.backlog.size() < last; ++it) {
    if (filter.Matches((*it)->keys)) start.backlog.push_back(*it);
  }
  std::reverse(start.backlog.begin(), start.backlog.end());
  if (follow) {
    start.subscription =
        std::make_shared<Subscription>(stream, filter, std::max<size_t>(limits_.queue_capacity, 1));
    subscriptions_.push_back(start.subscription);
  }
  return start;
}

void Hub::Unsubscribe(const std::shared_ptr<Subscription>& subscription) {
  std::lock_guard lock(mu_);
  std::erase(subscriptions_, subscription);
}

uint64_t Hub::Take(Subscription& sub, size_t max, std::vector<ItemPtr>* out) {
  std::lock_guard lock(mu_);
  size_t n = std::min(max, sub.queue_.size());
  for (size_t i = 0; i < n; ++i) {
    out->push_back(std::move(sub.queue_.front()));
    sub.queue_.pop_front();
  }
  return std::exchange(sub.lost_unreported_, 0);
}

uint64_t Hub::slow_subscriber_lost() const {
  std::lock_guard lock(mu_);
  return slow_subscriber_lost_;
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
  return history_[static_cast<int>(stream)].size();
}

}  // namespace mailtap
