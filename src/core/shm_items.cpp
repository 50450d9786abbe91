#include "core/shm_items.hpp"

#include <algorithm>
#include <stdexcept>

namespace reap::core {
namespace {

enum Flags : std::uint8_t {
  kHolder = 1,
  kLikely = 2,
  kLikelyPid = 4,
  kLikelyAlive = 8,      ///< alive is set
  kLikelyAliveTrue = 16  ///< and true
};

constexpr std::uint64_t kMaxNameBytes = std::uint64_t{1} << 40;  // 40-bit offsets

}  // namespace

static_assert(sizeof(ShmItems::Row) == 32, "a row is 32 bytes: a change shows at 1M items");

ShmItems::ShmItems(const ShmItems& o)
    : size_(o.size_),
      rows_(o.rows_),
      names_(o.names_),
      name_bytes_(o.name_bytes_),
      reasons_(o.reasons_),
      last_reason_(o.last_reason_),
      creators_(o.creators_) {
  for (std::uint32_t i = 0; i < reasons_.size(); ++i) reason_index_.emplace(reasons_[i], i);
}

ShmItems& ShmItems::operator=(const ShmItems& o) {
  if (this != &o) {
    ShmItems copy(o);
    *this = std::move(copy);
  }
  return *this;
}

void ShmItems::reserve(std::size_t n) {
  rows_.reserve((n + kRowsPerChunk - 1) / kRowsPerChunk);
}

void ShmItems::clear() {
  *this = ShmItems();
}

std::uint32_t ShmItems::intern_reason(const std::string& reason) {
  if (last_reason_ != UINT32_MAX && reasons_[last_reason_] == reason) return last_reason_;
  auto it = reason_index_.find(reason);
  if (it == reason_index_.end()) {
    if (reasons_.size() == UINT32_MAX) throw std::length_error("ShmItems: too many reasons");
    auto index = static_cast<std::uint32_t>(reasons_.size());
    reasons_.push_back(reason);
    it = reason_index_.emplace(reasons_.back(), index).first;
  }
  last_reason_ = it->second;
  return last_reason_;
}

std::uint8_t ShmItems::intern_creator(std::string_view creator) {
  for (std::size_t i = 0; i < creators_.size(); ++i)
    if (creators_[i] == creator) return static_cast<std::uint8_t>(i);
  if (creators_.size() > UINT8_MAX) throw std::length_error("ShmItems: too many creators");
  creators_.push_back(creator);
  return static_cast<std::uint8_t>(creators_.size() - 1);
}

void ShmItems::append_name(std::string_view name) {
  if (name.size() > kMaxNameBytes - name_bytes_)
    throw std::length_error("ShmItems: names over 1 TiB");
  while (!name.empty()) {
    if (names_.empty() || names_.back().size() == kNameBlock) {
      names_.emplace_back();
      names_.back().reserve(kNameBlock);
    }
    auto& block = names_.back();
    std::size_t n = std::min(name.size(), kNameBlock - block.size());
    block.insert(block.end(), name.data(), name.data() + n);
    name.remove_prefix(n);
    name_bytes_ += n;
  }
}

void ShmItems::push_back(const ShmReportItem& item) {
  Row r{};
  r.size = item.size;
  r.uid = item.uid;
  r.verdict = static_cast<std::uint8_t>(item.verdict);
  if (item.holder) {
    r.flags |= kHolder;
    r.holder = *item.holder;
  }
  if (item.likely) {
    r.flags |= kLikely;
    r.creator = intern_creator(item.likely->creator);
    if (item.likely->pid) {
      r.flags |= kLikelyPid;
      r.likely_pid = *item.likely->pid;
    }
    if (item.likely->alive) {
      r.flags |= kLikelyAlive;
      if (*item.likely->alive) r.flags |= kLikelyAliveTrue;
    }
  }
  r.reason = intern_reason(item.reason);
  r.name_lo = static_cast<std::uint32_t>(name_bytes_);
  r.name_hi = static_cast<std::uint8_t>(name_bytes_ >> 32);
  if (rows_.size() * kRowsPerChunk == size_) {
    rows_.emplace_back();
    rows_.back().reserve(kRowsPerChunk);
  }
  std::uint64_t names_before = name_bytes_;
  try {
    append_name(item.name);
  } catch (...) {  // no half-pushed item: the arena goes back to where it was
    while (name_bytes_ > names_before) {
      auto& block = names_.back();
      std::size_t n = std::min<std::uint64_t>(block.size(), name_bytes_ - names_before);
      block.resize(block.size() - n);
      name_bytes_ -= n;
      if (block.empty()) names_.pop_back();
    }
    throw;
  }
  rows_.back().push_back(r);  // reserved: does not throw
  ++size_;
}

const ShmReportItem ShmItems::operator[](std::size_t i) const {
  const Row& r = row(i);
  ShmReportItem s;
  std::uint64_t begin = name_offset(r);
  std::uint64_t end = i + 1 < size_ ? name_offset(row(i + 1)) : name_bytes_;
  s.name.resize(end - begin);
  for (std::uint64_t at = begin; at < end;) {
    const auto& block = names_[at / kNameBlock];
    std::size_t from = at % kNameBlock;
    std::size_t n = std::min<std::uint64_t>(end - at, kNameBlock - from);
    std::copy_n(block.data() + from, n, s.name.data() + (at - begin));
    at += n;
  }
  s.verdict = static_cast<ShmVerdictWord>(r.verdict);
  s.reason = reasons_[r.reason];
  if (r.flags & kHolder) s.holder = r.holder;
  s.uid = r.uid;
  s.size = static_cast<off_t>(r.size);
  if (r.flags & kLikely) {
    Attribution a{creators_[r.creator], std::nullopt, std::nullopt};
    if (r.flags & kLikelyPid) a.pid = r.likely_pid;
    if (r.flags & kLikelyAlive) a.alive = (r.flags & kLikelyAliveTrue) != 0;
    s.likely = a;
  }
  return s;
}

std::size_t ShmItems::count(ShmVerdictWord v) const {
  std::size_t n = 0;
  for (const auto& chunk : rows_)
    for (const auto& r : chunk) n += r.verdict == static_cast<std::uint8_t>(v);
  return n;
}

std::size_t ShmItems::memory_bytes() const {
  std::size_t n = rows_.capacity() * sizeof(rows_[0]);
  for (const auto& chunk : rows_) n += chunk.capacity() * sizeof(Row);
  n += names_.capacity() * sizeof(names_[0]);
  for (const auto& block : names_) n += block.capacity();
  for (const auto& reason : reasons_) n += sizeof(reason) + reason.capacity();
  return n;
}

}  // namespace reap::core
