// A doubly linked list threaded through its elements.
#pragma once

namespace mailtap {

// Links elements through their own `prev` and `next` members (T* each, null when unlinked): no
// allocation per element and no separate node to chase when an element moves, which the flow
// table does on every segment. An element is on at most one such list at a time. Owns nothing.
template <typename T>
class IntrusiveList {
 public:
  bool empty() const { return head_ == nullptr; }
  T* front() const { return head_; }

  void PushBack(T* e) {
    e->prev = tail_;
    e->next = nullptr;
    (tail_ != nullptr ? tail_->next : head_) = e;
    tail_ = e;
  }

  // REQUIRES: `e` is on this list.
  void Remove(T* e) {
    (e->prev != nullptr ? e->prev->next : head_) = e->next;
    (e->next != nullptr ? e->next->prev : tail_) = e->prev;
    e->prev = e->next = nullptr;
  }

  // REQUIRES: `e` is on this list.
  void MoveToBack(T* e) {
    if (tail_ == e) return;
    Remove(e);
    PushBack(e);
  }

  // Calls f(T*) front to back. `f` must not change the list.
  template <typename F>
  void ForEach(F&& f) const {
    for (T* e = head_; e != nullptr; e = e->next) f(e);
  }

 private:
  T* head_ = nullptr;
  T* tail_ = nullptr;
};

}  // namespace mailtap
