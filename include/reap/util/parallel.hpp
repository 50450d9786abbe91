// A minimal parallel loop for independent per-item system calls.
#pragma once

#include <algorithm>
#include <cstddef>
#include <thread>
#include <vector>

namespace reap::util {

/// Calls fn(i) for every i in [0, n) on up to `threads` threads (the caller's included),
/// each taking a contiguous block. Runs inline when threads <= 1 or n is small. `fn` must
/// be safe to call concurrently for different i.
template <class Fn>
void parallel_for(std::size_t n, unsigned threads, Fn&& fn, std::size_t min_per_thread = 2048) {
  std::size_t t = std::min<std::size_t>(threads, n / min_per_thread);
  if (t <= 1) {
    for (std::size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  auto block = [&](std::size_t k) {
    std::size_t lo = n * k / t, hi = n * (k + 1) / t;
    for (std::size_t i = lo; i < hi; ++i) fn(i);
  };
  std::vector<std::thread> pool;
  for (std::size_t k = 1; k < t; ++k) pool.emplace_back(block, k);
  block(0);
  for (auto& th : pool) th.join();
}

}  // namespace reap::util
