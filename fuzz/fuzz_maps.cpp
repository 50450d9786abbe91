// Fuzzes os::for_each_maps_file over whole maps texts.
//  1. Raw bytes: the callbacks report exactly the set of identities that parse_maps_line
//     finds on the '\n'-separated lines, never the same identity twice in a row, and no
//     more than one per file-backed line.
//  2. Structured: a kernel-format text from fuzzed entries (anonymous ones, runs of one file,
//     repeats) reports every file-backed entry's identity and nothing else.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz_check.hpp"
#include "maps_render.hpp"
#include "os/proc_parse.hpp"

namespace {

using reap::os::MapsFileRef;
using Id = std::pair<dev_t, ino_t>;

std::vector<Id> reported(std::string_view text) {
  std::vector<Id> out;
  reap::os::for_each_maps_file(text, [&](MapsFileRef ref) { out.emplace_back(ref.dev, ref.ino); });
  return out;
}

void check_no_repeat(const std::vector<Id>& ids) {
  for (std::size_t i = 1; i < ids.size(); ++i) FUZZ_CHECK(ids[i] != ids[i - 1]);
}

void check_raw(std::string_view text) {
  auto ids = reported(text);
  std::set<Id> want;
  std::size_t file_lines = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    auto nl = rest.find('\n');
    if (auto ref = reap::os::parse_maps_line(rest.substr(0, nl))) {
      want.emplace(ref->dev, ref->ino);
      ++file_lines;
    }
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
  }
  FUZZ_CHECK(std::set<Id>(ids.begin(), ids.end()) == want);
  FUZZ_CHECK(ids.size() <= file_lines);
  check_no_repeat(ids);
}

void check_structured(FuzzedDataProvider& in) {
  std::vector<reap::fuzz::MapsEntry> entries;
  std::string text;
  std::set<Id> want;
  const std::size_t count = in.ConsumeIntegralInRange<std::size_t>(0, 40);
  for (std::size_t i = 0; i < count && in.remaining_bytes() > 0; ++i) {
    if (!entries.empty() && in.ConsumeBool()) {
      // Another mapping of an earlier entry's file (next to it or further back).
      auto e = entries[in.ConsumeIntegralInRange<std::size_t>(0, entries.size() - 1)];
      e.start = in.ConsumeIntegral<std::uint64_t>();
      e.perms = in.ConsumeBool() ? "rw-p" : "r-xp";
      entries.push_back(e);
    } else {
      entries.push_back(reap::fuzz::consume_maps_entry(in));
    }
    const auto& e = entries.back();
    if (e.ino != 0) want.emplace(reap::fuzz::entry_dev(e), static_cast<ino_t>(e.ino));
    text += reap::fuzz::render_maps_line(e) + '\n';
  }
  if (in.ConsumeBool() && !text.empty()) text.pop_back();  // no final newline
  auto ids = reported(text);
  FUZZ_CHECK_MSG(std::set<Id>(ids.begin(), ids.end()) == want, text);
  check_no_repeat(ids);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check_raw(std::string_view(reinterpret_cast<const char*>(data), size));
  FuzzedDataProvider in(data, size);
  check_structured(in);
  return 0;
}
