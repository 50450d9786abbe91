// Fuzzes os::parse_status.
//  1. Raw bytes: a successful parse re-rendered in the kernel's format parses to the same
//     fields (render(parse(x)) is a fixed point); parsing is deterministic.
//  2. Structured: a kernel-format status text with fuzzed Uid/Gid/Groups/SigIgn/SigBlk/CapPrm/
//     Threads, surrounded by other fuzzed "Key:\tvalue" lines, parses back to those fields.
#include <fuzzer/FuzzedDataProvider.h>

#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "os/proc_parse.hpp"

namespace {

using reap::os::parse_status;
using reap::os::StatusFields;

bool same(const StatusFields& a, const StatusFields& b) {
  return a.uids == b.uids && a.gids == b.gids && a.groups == b.groups && a.sig_ign == b.sig_ign &&
         a.sig_blk == b.sig_blk && a.cap_prm == b.cap_prm && a.threads == b.threads;
}

std::string ids_line(std::string_view key, const auto& ids) {
  std::string line(key);
  line += ':';
  for (auto id : ids) line += '\t' + std::to_string(id);
  return line + '\n';
}

std::string hex16(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return buf;
}

/// Renders the fields the way the kernel does (fs/proc/array.c), with the trailing space
/// after the group list that older kernels print when `trailing_space`.
std::string render(const StatusFields& st, bool trailing_space) {
  std::string text = ids_line("Uid", st.uids) + ids_line("Gid", st.gids);
  text += "FDSize:\t64\nGroups:\t";
  for (std::size_t i = 0; i < st.groups.size(); ++i) {
    if (i != 0 && !trailing_space) text += ' ';
    text += std::to_string(st.groups[i]);
    if (trailing_space) text += ' ';
  }
  text += '\n';
  text += "Threads:\t" + std::to_string(st.threads) + '\n';
  text += "SigQ:\t0/63448\nSigPnd:\t0000000000000000\nShdPnd:\t0000000000000000\n";
  text += "SigBlk:\t" + hex16(st.sig_blk) + '\n';
  text += "SigIgn:\t" + hex16(st.sig_ign) + '\n';
  text += "SigCgt:\t0000000000000000\nCapInh:\t0000000000000000\n";
  text += "CapPrm:\t" + hex16(st.cap_prm) + '\n';
  text += "CapEff:\t" + hex16(st.cap_prm) + "\nCapBnd:\t000001ffffffffff\n";
  return text;
}

void check_raw(std::string_view text) {
  auto st = parse_status(text);
  auto again = parse_status(text);
  FUZZ_CHECK(st.has_value() == again.has_value());
  if (!st) return;
  FUZZ_CHECK(same(*st, *again));
  for (bool trailing_space : {false, true}) {
    auto rendered = render(*st, trailing_space);
    auto back = parse_status(rendered);
    FUZZ_CHECK_MSG(back && same(*back, *st), rendered);
  }
}

/// A line that parse_status must ignore: no newline, and a key (text before the first ':')
/// that starts with '~', so no field the parser knows, now or later.
std::string noise_line(FuzzedDataProvider& in) {
  std::string line = "~" + in.ConsumeRandomLengthString(40);
  for (char& c : line)
    if (c == '\n') c = ' ';
  return line + '\n';
}

void check_structured(FuzzedDataProvider& in) {
  StatusFields want;
  for (auto& id : want.uids) id = in.ConsumeIntegral<uid_t>();
  for (auto& id : want.gids) id = in.ConsumeIntegral<gid_t>();
  want.groups.resize(in.ConsumeIntegralInRange<std::size_t>(0, 70));
  for (auto& g : want.groups) g = in.ConsumeIntegral<gid_t>();
  want.sig_ign = in.ConsumeIntegral<std::uint64_t>();
  want.sig_blk = in.ConsumeIntegral<std::uint64_t>();
  want.cap_prm = in.ConsumeIntegral<std::uint64_t>();
  want.threads = in.ConsumeIntegral<long>();
  const bool trailing_space = in.ConsumeBool();
  const bool final_newline = in.ConsumeBool();

  // Kernel order: Name, Umask, State, Tgid, Ngid, Pid, PPid, TracerPid, Uid, Gid, ...
  // Name is escaped by the kernel ("\n" -> "\\n"), so it holds no newline.
  std::string text = "Name:\t";
  for (char c : in.ConsumeRandomLengthString(16))
    text += c == '\n' ? std::string("\\n") : std::string(1, c);
  text += "\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t1\nNgid:\t0\nPid:\t1\nPPid:\t0\n";
  const std::size_t noise = in.ConsumeIntegralInRange<std::size_t>(0, 4);
  for (std::size_t i = 0; i < noise; ++i) text += noise_line(in);
  text += render(want, trailing_space);
  while (in.remaining_bytes() > 0) text += noise_line(in);
  if (!final_newline) text.pop_back();

  auto got = parse_status(text);
  FUZZ_CHECK_MSG(got.has_value(), reap::fuzz::dump(text));
  FUZZ_CHECK_MSG(same(*got, want), reap::fuzz::dump(text));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  check_raw(std::string_view(reinterpret_cast<const char*>(data), size));
  FuzzedDataProvider in(data, size);
  check_structured(in);
  return 0;
}
