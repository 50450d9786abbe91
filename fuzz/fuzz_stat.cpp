// Fuzzes os::parse_stat.
//  1. Raw bytes: when parsing succeeds, comm is exactly the text between the first '(' and the
//     last ')', and the pid is the number before the '('; parsing is deterministic.
//  2. Structured: a kernel-format stat line is built from a fuzzed comm (any bytes: spaces,
//     parentheses, newlines, NULs) and fuzzed numeric fields; every field must come back.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz_check.hpp"
#include "os/proc_parse.hpp"

namespace {

using reap::os::parse_stat;

void check_raw(std::string_view text) {
  auto st = parse_stat(text);
  auto again = parse_stat(text);
  FUZZ_CHECK(st.has_value() == again.has_value());
  if (!st) return;
  auto open = text.find('(');
  auto close = text.rfind(')');
  FUZZ_CHECK(open != std::string_view::npos && close != std::string_view::npos);
  FUZZ_CHECK(open < close);
  FUZZ_CHECK_MSG(st->comm == text.substr(open + 1, close - open - 1), reap::fuzz::dump(st->comm));
  FUZZ_CHECK(st->comm == again->comm && st->pid == again->pid && st->ppid == again->ppid &&
             st->starttime == again->starttime);
  // The pid is the number in front of the '(' (spaces before the '(' are allowed).
  std::string_view head = text.substr(0, open);
  while (!head.empty() && head.back() == ' ') head.remove_suffix(1);
  FUZZ_CHECK(head == std::to_string(st->pid) || (!head.empty() && head.front() == '0') ||
             (head.size() > 1 && head[0] == '-' && head[1] == '0'));
  FUZZ_CHECK(st->state != ' ' && st->state != '\t' && st->state != '\n');
}

void check_structured(FuzzedDataProvider& in) {
  const pid_t pid = in.ConsumeIntegral<pid_t>();
  const pid_t ppid = in.ConsumeIntegral<pid_t>();
  const pid_t pgrp = in.ConsumeIntegral<pid_t>();
  const pid_t session = in.ConsumeIntegral<pid_t>();
  const int tty_nr = in.ConsumeIntegral<int>();
  const int tpgid = in.ConsumeIntegral<int>();
  const unsigned flags = in.ConsumeIntegral<unsigned>();
  const long num_threads = in.ConsumeIntegral<long>();
  const long itrealvalue = in.ConsumeIntegral<long>();
  const unsigned long long starttime = in.ConsumeIntegral<unsigned long long>();
  static constexpr std::string_view kStates = "RSDZTtXxKWPI";
  char state = kStates[in.ConsumeIntegralInRange<std::size_t>(0, kStates.size() - 1)];
  if (in.ConsumeBool()) {
    // Any byte but a blank or ')' (the kernel's states are letters) is a one-character
    // state field.
    auto c = in.ConsumeIntegral<char>();
    if (c != ' ' && c != '\t' && c != '\n' && c != ')') state = c;
  }
  const std::size_t extra_fields = in.ConsumeIntegralInRange<std::size_t>(1, 30);
  const std::string comm = in.ConsumeRandomLengthString(64);

  std::string line = std::to_string(pid) + " (" + comm + ") " + state;
  for (long long v :
       {static_cast<long long>(ppid), static_cast<long long>(pgrp), static_cast<long long>(session),
        static_cast<long long>(tty_nr), static_cast<long long>(tpgid)})
    line += " " + std::to_string(v);
  line += " " + std::to_string(flags);
  for (unsigned long long field = 10; field < 20; ++field)
    line += " " + std::to_string(field * 1000003ULL);
  line += " " + std::to_string(num_threads);
  line += " " + std::to_string(itrealvalue);
  line += " " + std::to_string(starttime);
  for (std::size_t i = 0; i < extra_fields; ++i) line += " " + std::to_string(i);
  line += '\n';

  auto st = parse_stat(line);
  FUZZ_CHECK_MSG(st.has_value(), reap::fuzz::dump(line));
  FUZZ_CHECK_MSG(st->comm == comm, reap::fuzz::dump(line));
  FUZZ_CHECK(st->pid == pid);
  FUZZ_CHECK(st->state == state);
  FUZZ_CHECK(st->ppid == ppid);
  FUZZ_CHECK(st->pgrp == pgrp);
  FUZZ_CHECK(st->session == session);
  FUZZ_CHECK(st->flags == flags);
  FUZZ_CHECK(st->num_threads == num_threads);
  FUZZ_CHECK(st->starttime == starttime);

  // A line cut anywhere after comm's ')' may still parse (a shorter number, or all fields
  // up to starttime kept), but never with another comm or pid.
  const std::size_t close = line.rfind(')');
  auto keep = in.ConsumeIntegralInRange<std::size_t>(close + 1, line.size());
  auto partial = parse_stat(std::string_view(line).substr(0, keep));
  if (partial) FUZZ_CHECK(partial->comm == comm && partial->pid == pid);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  check_raw(text);
  FuzzedDataProvider in(data, size);
  check_structured(in);
  return 0;
}
