// Fuzzes os::split_cmdline.
//  1. Raw bytes: no argument holds a NUL, and joining the arguments with NUL gives back the
//     input less one trailing NUL (the split is lossless).
//  2. Structured: a NUL-terminated cmdline built from fuzzed arguments splits back into
//     them (except the single empty argument, whose "\0" cannot be told from no argv).
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "os/proc_parse.hpp"

namespace {

using reap::os::split_cmdline;

std::string join(const std::vector<std::string>& args) {
  std::string out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (i != 0) out += '\0';
    out += args[i];
  }
  return out;
}

void check_raw(std::string_view raw) {
  auto args = split_cmdline(raw);
  for (const auto& a : args) FUZZ_CHECK(a.find('\0') == std::string::npos);
  std::string_view body = raw;
  if (!body.empty() && body.back() == '\0') body.remove_suffix(1);
  FUZZ_CHECK(args.empty() == body.empty());
  FUZZ_CHECK(join(args) == body);
}

void check_structured(FuzzedDataProvider& in) {
  std::vector<std::string> want(in.ConsumeIntegralInRange<std::size_t>(0, 16));
  for (auto& a : want) {
    a = in.ConsumeRandomLengthString(32);
    for (char& c : a)
      if (c == '\0') c = ' ';
  }
  std::string raw;
  for (const auto& a : want) raw += a + '\0';
  auto got = split_cmdline(raw);
  if (want.size() == 1 && want[0].empty()) {
    FUZZ_CHECK(got.empty());
  } else {
    FUZZ_CHECK_MSG(got == want, reap::fuzz::dump(raw));
  }
  // A process that rewrote its argv with spaces and no NUL: one argument.
  std::string title = join(want);
  for (char& c : title)
    if (c == '\0') c = ' ';
  auto one = split_cmdline(title);
  FUZZ_CHECK(title.empty() ? one.empty() : one.size() == 1 && one[0] == title);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check_raw(std::string_view(reinterpret_cast<const char*>(data), size));
  FuzzedDataProvider in(data, size);
  check_structured(in);
  return 0;
}
