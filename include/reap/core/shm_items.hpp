// The shm report's items, stored compactly: a sweep of 1,000,000 segments reports 1,000,000
// of them, and a vector of ShmReportItem (136 B each, plus its strings) was most of reap's
// peak memory. Rows of fixed size hold the numbers; the names live in one arena of fixed
// blocks; reasons (nearly all "unheld") and creators are interned. Reading an item gives a
// ShmReportItem by value, so renderers read it as they read a vector.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/attribution.hpp"

namespace reap::core {

enum class ShmVerdictWord { Unlinked, WouldUnlink, Gone, Kept, Skipped, Error };

struct ShmReportItem {
  std::string name;  ///< raw bytes
  ShmVerdictWord verdict = ShmVerdictWord::Kept;
  std::string reason;
  std::optional<pid_t> holder;
  uid_t uid = 0;
  off_t size = 0;
  std::optional<Attribution> likely;  ///< from the name (core/attribution): a hint only
};

/// A sequence of ShmReportItem in the order pushed. Items are stored, not referenced:
/// reading one (operator[], iteration) builds a fresh ShmReportItem, returned const so that
/// `items[i].reason = ...` does not compile (it would change a copy). Names of any length
/// and bytes, up to 1 TiB of names in all (std::length_error beyond). A likely creator is
/// kept as the string_view it came in (Attribution's contract: a static name).
class ShmItems {
 public:
  /// The stored form of one item: 32 bytes plus its name's bytes in the arena.
  struct Row {
    std::int64_t size;
    std::uint32_t uid;
    std::int32_t holder;      ///< valid when kHolder is set
    std::int32_t likely_pid;  ///< valid when kLikelyPid is set
    std::uint32_t reason;     ///< index into reasons_
    std::uint32_t name_lo;    ///< the name's offset in the arena, low 32 bits
    std::uint8_t name_hi;     ///< and its high 8 bits; its length runs to the next row's offset
    std::uint8_t verdict;     ///< a ShmVerdictWord
    std::uint8_t flags;       ///< kHolder, kLikely, ...
    std::uint8_t creator;     ///< index into creators_, valid when kLikely is set
  };

  class Iterator {
   public:
    using iterator_concept = std::forward_iterator_tag;
    using iterator_category = std::input_iterator_tag;  // reference is not a real reference
    using value_type = ShmReportItem;
    using difference_type = std::ptrdiff_t;
    using reference = const ShmReportItem;
    using pointer = void;

    Iterator() = default;
    reference operator*() const { return (*items_)[i_]; }
    Iterator& operator++() {
      ++i_;
      return *this;
    }
    Iterator operator++(int) {
      Iterator old = *this;
      ++i_;
      return old;
    }
    bool operator==(const Iterator& o) const { return i_ == o.i_; }

   private:
    friend class ShmItems;
    Iterator(const ShmItems* items, std::size_t i) : items_(items), i_(i) {}
    const ShmItems* items_ = nullptr;
    std::size_t i_ = 0;
  };
  using value_type = ShmReportItem;
  using size_type = std::size_t;
  using iterator = Iterator;
  using const_iterator = Iterator;

  ShmItems() = default;
  ShmItems(const ShmItems& o);  ///< rebuilds the reason index (its keys view o's strings)
  ShmItems& operator=(const ShmItems& o);
  ShmItems(ShmItems&&) noexcept = default;  ///< a moved deque keeps its elements in place
  ShmItems& operator=(ShmItems&&) noexcept = default;

  void push_back(const ShmReportItem& item);
  void push_back(ShmReportItem&& item) { push_back(static_cast<const ShmReportItem&>(item)); }

  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  /// Room for the index of n rows (rows and names come in fixed blocks, never moved).
  void reserve(std::size_t n);
  void clear();

  const ShmReportItem operator[](std::size_t i) const;
  Iterator begin() const { return Iterator(this, 0); }
  Iterator end() const { return Iterator(this, size_); }

  /// Item i's verdict, without building the item.
  ShmVerdictWord verdict(std::size_t i) const {
    return static_cast<ShmVerdictWord>(row(i).verdict);
  }
  /// How many items have verdict v.
  std::size_t count(ShmVerdictWord v) const;

  /// Bytes held now: rows, names, interned reasons (for tests and measurements).
  std::size_t memory_bytes() const;

 private:
  static constexpr std::size_t kRowsPerChunk = 2048;  // 64 KiB of rows
  static constexpr std::size_t kNameBlock = 65536;    // bytes of names per arena block

  const Row& row(std::size_t i) const { return rows_[i / kRowsPerChunk][i % kRowsPerChunk]; }
  static std::uint64_t name_offset(const Row& r) {
    return (static_cast<std::uint64_t>(r.name_hi) << 32) | r.name_lo;
  }
  std::uint32_t intern_reason(const std::string& reason);
  std::uint8_t intern_creator(std::string_view creator);
  void append_name(std::string_view name);

  std::size_t size_ = 0;
  std::vector<std::vector<Row>> rows_;    ///< chunks of kRowsPerChunk, each reserved
  std::vector<std::vector<char>> names_;  ///< blocks of kNameBlock, each reserved
  std::uint64_t name_bytes_ = 0;          ///< names' total length (the next offset)
  std::deque<std::string> reasons_;       ///< distinct reasons (a deque: views stay valid)
  std::unordered_map<std::string_view, std::uint32_t> reason_index_;  ///< views into reasons_
  std::uint32_t last_reason_ = UINT32_MAX;  ///< the previous push's reason, checked first
  std::vector<std::string_view> creators_;  ///< distinct creators, as given
};

}  // namespace reap::core
