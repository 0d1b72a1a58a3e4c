// An open-addressing hash index of objects by their `key` member.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace mailtap {

// Finds an object by its key with one cache line read before the object itself: each slot holds
// the object's pointer next to its key's hash. (std::unordered_map reads a bucket array, then the
// node before the bucket's first, then the node, each separately allocated; with ~10^4 flows that
// is a cache miss or two per segment.) Linear probing, at most half full, deletion by backward
// shift so that no tombstones accumulate. Owns nothing: the caller keeps the objects alive while
// they are indexed. `Hash` must be seeded if keys come from the network (hash flooding).
template <typename T, typename Key, typename Hash>
class PointerIndex {
 public:
  explicit PointerIndex(Hash hash = Hash{}) : hash_(hash) {}

  T* Find(const Key& key) const {
    if (slots_.empty()) return nullptr;
    const uint64_t h = hash_(key);
    for (size_t i = h & mask(); slots_[i].object != nullptr; i = (i + 1) & mask()) {
      if (slots_[i].hash == h && slots_[i].object->key == key) return slots_[i].object;
    }
    return nullptr;
  }

  // `object->key` must not be indexed yet and must not change while indexed.
  void Insert(T* object) {
    if (2 * (size_ + 1) > slots_.size()) Grow();
    Place(Slot{hash_(object->key), object});
    ++size_;
  }

  // Removes `object` (indexed by its key) and returns true, or returns false if it is not indexed.
  bool Erase(const T* object) {
    if (slots_.empty()) return false;
    size_t i = hash_(object->key) & mask();
    while (slots_[i].object != object) {
      if (slots_[i].object == nullptr) return false;
      i = (i + 1) & mask();
    }
    // Backward shift: move up each later entry of the cluster that may not live after the hole.
    for (size_t hole = i, j = (i + 1) & mask();; j = (j + 1) & mask()) {
      if (slots_[j].object == nullptr) {
        slots_[hole] = Slot{};
        break;
      }
      const size_t home = slots_[j].hash & mask();
      // Movable unless its home lies cyclically in (hole, j].
      const bool home_after_hole =
          hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
      if (!home_after_hole) {
        slots_[hole] = slots_[j];
        hole = j;
      }
    }
    --size_;
    return true;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Calls f(T*) for every indexed object, in no particular order. `f` must not change the index.
  template <typename F>
  void ForEach(F&& f) const {
    for (const Slot& s : slots_) {
      if (s.object != nullptr) f(s.object);
    }
  }

 private:
  struct Slot {
    uint64_t hash = 0;
    T* object = nullptr;
  };

  size_t mask() const { return slots_.size() - 1; }

  void Place(Slot slot) {
    size_t i = slot.hash & mask();
    while (slots_[i].object != nullptr) i = (i + 1) & mask();
    slots_[i] = slot;
  }

  void Grow() {
    std::vector<Slot> old(slots_.empty() ? kInitialSlots : slots_.size() * 2);
    old.swap(slots_);
    for (const Slot& s : old) {
      if (s.object != nullptr) Place(s);
    }
  }

  static constexpr size_t kInitialSlots = 64;  // a power of two, as every later size

  Hash hash_;
  std::vector<Slot> slots_;
  size_t size_ = 0;
};

}  // namespace mailtap
