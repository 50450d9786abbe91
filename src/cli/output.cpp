#include "cli/output.hpp"

#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/color.hpp"
#include "os/proc_parse.hpp"
#include "util/escape.hpp"

namespace reap::cli {
namespace {

using nlohmann::json;
using util::escape_for_terminal;

std::string json_word(const char* w) {
  std::string s = w;
  for (char& c : s)
    if (c == ' ') c = '_';
  return s;
}

/// Adds `key` (lossy UTF-8) and, when the bytes are not UTF-8, `key_hex` (lossless).
void put_bytes(json& j, const std::string& key, const std::string& bytes) {
  if (util::is_valid_utf8(bytes)) {
    j[key] = bytes;
  } else {
    j[key] = util::to_utf8_lossy(bytes);
    j[key + "_hex"] = util::hex(bytes);
  }
}

/// Byte classes for the JSON writer: 0 printable ASCII that JSON takes as it is (DEL too),
/// 1 a byte that needs an escape (control, '"', '\\'), 2 a byte of a multi-byte sequence.
constexpr std::array<unsigned char, 256> kJsonClass = [] {
  std::array<unsigned char, 256> t{};
  for (unsigned c = 0; c < 256; ++c)
    t[c] = c < 0x20 || c == '"' || c == '\\' ? 1 : c >= 0x80 ? 2 : 0;
  return t;
}();

/// json_classes one byte at a time.
unsigned json_classes_slow(std::string_view text) {
  unsigned any = 0;
  for (char c : text) any |= kJsonClass[static_cast<unsigned char>(c)];
  return any;
}

/// The classes of `text`'s bytes, or-ed: 0 when it can be written between quotes as it is.
/// Eight bytes at a time: a set high bit, a byte below 0x20, a '"' or a '\\' in a word.
unsigned json_classes(std::string_view text) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
  auto has_less = [](std::uint64_t w, std::uint64_t n) { return (w - kOnes * n) & ~w & kHigh; };
  auto has_byte = [&](std::uint64_t w, std::uint64_t b) { return has_less(w ^ (kOnes * b), 1); };
  const char* p = text.data();
  std::size_t n = text.size();
  for (; n >= 8; p += 8, n -= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    if (w & kHigh) return json_classes_slow({p, n});  // exact only for ASCII words
    if (has_less(w, 0x20) | has_byte(w, '"') | has_byte(w, '\\')) return json_classes_slow({p, n});
  }
  return json_classes_slow({p, n});
}

/// Appends `text` (valid UTF-8) as a JSON string literal. Runs of bytes that need no escape
/// are appended whole.
void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  std::size_t run = 0;  // start of the bytes not yet appended
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (kJsonClass[c] != 1) continue;
    out.append(text.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
  }
  out.append(text.data() + run, text.size() - run);
  out += '"';
}

/// append_json_string of `bytes`, made lossy UTF-8 first only when they are not UTF-8.
/// Printable ASCII (nearly every name and reason) is appended in one piece.
void append_json_text(std::string& out, std::string_view bytes) {
  unsigned classes = json_classes(bytes);
  if (classes == 0) {
    out += '"';
    out += bytes;
    out += '"';
  } else if (!(classes & 2) || util::is_valid_utf8(bytes)) {
    append_json_string(out, bytes);
  } else {
    append_json_string(out, util::to_utf8_lossy(bytes));
  }
}

/// Appends the decimal digits of `v`.
template <class T>
void append_number(std::string& out, T v) {
  char digits[24];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, v);
  out.append(digits, end);
}

json likely_json(const std::optional<core::Attribution>& a) {
  if (!a) return nullptr;
  json j;
  j["creator"] = std::string(a->creator);
  j["pid"] = a->pid ? json(*a->pid) : json(nullptr);
  j["pid_alive"] = a->alive ? json(*a->alive) : json(nullptr);
  return j;
}

/// Written directly, as likely_json(a).dump() would print it: a json value per item cost
/// more than the rest of the item (a sweep may report 100,000 of them).
void append_likely(std::string& out, const std::optional<core::Attribution>& a) {
  using namespace std::string_view_literals;
  if (!a) {
    out += ",\"likely\":null"sv;
    return;
  }
  out += ",\"likely\":{\"creator\":"sv;
  append_json_text(out, a->creator);  // one of the fixed ASCII names
  out += ",\"pid\":"sv;
  if (a->pid)
    append_number(out, *a->pid);
  else
    out += "null"sv;
  out += ",\"pid_alive\":"sv;
  out += a->alive ? (*a->alive ? "true"sv : "false"sv) : "null"sv;
  out += '}';
}

/// `,"verdict":"WORD"` for each shm verdict, made once.
std::string_view shm_verdict_json(core::ShmVerdictWord v) {
  using core::ShmVerdictWord;
  static const auto table = [] {
    std::array<std::string, 6> t;
    for (auto w : {ShmVerdictWord::Unlinked, ShmVerdictWord::WouldUnlink, ShmVerdictWord::Gone,
                   ShmVerdictWord::Kept, ShmVerdictWord::Skipped, ShmVerdictWord::Error}) {
      std::string& s = t[static_cast<std::size_t>(w)];
      s = ",\"verdict\":";
      append_json_string(s, json_word(core::word(w)));
    }
    return t;
  }();
  return table.at(static_cast<std::size_t>(v));
}

/// append_shm_item for any bytes in the name and reason (escapes, lossy UTF-8, name_hex).
void append_shm_item_escaped(std::string& out, const core::ShmReportItem& s) {
  using namespace std::string_view_literals;
  out += "{\"name\":"sv;
  unsigned classes = json_classes(s.name);
  if (classes == 0) {
    out += '"';
    out += s.name;
    out += '"';
  } else if (!(classes & 2) || util::is_valid_utf8(s.name)) {
    append_json_string(out, s.name);
  } else {
    append_json_string(out, util::to_utf8_lossy(s.name));
    out += ",\"name_hex\":\""sv;
    out += util::hex(s.name);
    out += '"';
  }
  out += shm_verdict_json(s.verdict);
  out += ",\"reason\":"sv;
  append_json_text(out, s.reason);
  out += ",\"holder_pid\":"sv;
  if (s.holder)
    append_number(out, *s.holder);
  else
    out += "null"sv;
  out += ",\"uid\":"sv;
  append_number(out, s.uid);
  out += ",\"size\":"sv;
  append_number(out, s.size);
  append_likely(out, s.likely);
  out += '}';
}

char* put(char* p, std::string_view s) {
  std::memcpy(p, s.data(), s.size());
  return p + s.size();
}

template <class T>
char* put_number(char* p, T v) {
  return std::to_chars(p, p + 24, v).ptr;
}

/// One shm item as a JSON object, written directly: a sweep may report 100,000 of them.
/// When the name, the reason and the creator are printable ASCII without '"' or '\\'
/// (nearly always), the item is written into room made for it at once; else, and with the
/// same bytes, by append_shm_item_escaped.
void append_shm_item(std::string& out, const core::ShmReportItem& s) {
  using namespace std::string_view_literals;
  std::string_view creator = s.likely ? s.likely->creator : std::string_view{};
  if (json_classes(s.name) | json_classes(s.reason) | json_classes(creator)) {
    append_shm_item_escaped(out, s);
    return;
  }
  // The literals below (under 160 bytes), four numbers of at most 20 digits and a sign.
  constexpr std::size_t kRoom = 160 + 4 * 24;
  std::size_t old = out.size();
  out.resize(old + kRoom + s.name.size() + s.reason.size() + creator.size());
  char* p = out.data() + old;
  p = put(p, "{\"name\":\""sv);
  p = put(p, s.name);
  *p++ = '"';
  p = put(p, shm_verdict_json(s.verdict));
  p = put(p, ",\"reason\":\""sv);
  p = put(p, s.reason);
  p = put(p, "\",\"holder_pid\":"sv);
  p = s.holder ? put_number(p, *s.holder) : put(p, "null"sv);
  p = put(p, ",\"uid\":"sv);
  p = put_number(p, s.uid);
  p = put(p, ",\"size\":"sv);
  p = put_number(p, s.size);
  if (!s.likely) {
    p = put(p, ",\"likely\":null}"sv);
  } else {
    p = put(p, ",\"likely\":{\"creator\":\""sv);
    p = put(p, creator);
    p = put(p, "\",\"pid\":"sv);
    p = s.likely->pid ? put_number(p, *s.likely->pid) : put(p, "null"sv);
    p = put(p, ",\"pid_alive\":"sv);
    p = put(p, s.likely->alive ? (*s.likely->alive ? "true"sv : "false"sv) : "null"sv);
    p = put(p, "}}"sv);
  }
  out.resize(static_cast<std::size_t>(p - out.data()));
}

/// A sweep item (uds, mqueue, sysv) as a JSON object.
json sweep_item_json(const core::SweepItem& i) {
  json j;
  put_bytes(j, "name", i.name);
  j["verdict"] = json_word(core::word(i.outcome));
  j["reason"] = i.reason;
  j["holder_pid"] = i.holder ? json(*i.holder) : json(nullptr);
  j["uid"] = i.uid;
  j["size"] = i.size;
  if (!i.name_pid_note.empty()) j["name_note"] = i.name_pid_note;
  j["likely"] = likely_json(i.likely);
  return j;
}

/// Appends escape_for_terminal(bytes), without a copy when they need no escape.
void append_for_terminal(std::string& out, std::string_view bytes) {
  if (util::plain_for_terminal(bytes))
    out += bytes;
  else
    out += escape_for_terminal(bytes);
}

/// One shm item's line of the human report (a sweep may report 100,000 of them): the bytes
/// of fmt::format("shm {}: {}{}{}{}\n", name, verdict, ": ", reason, likely_suffix), built
/// in place.
void append_shm_line(std::string& out, const core::ShmReportItem& s, bool color) {
  using core::ShmVerdictWord;
  using namespace std::string_view_literals;
  bool plain =
      (s.verdict == ShmVerdictWord::Unlinked || s.verdict == ShmVerdictWord::WouldUnlink) &&
      s.reason == "unheld";
  out += "shm "sv;
  append_for_terminal(out, s.name);
  out += ": "sv;
  const char* sgr = verdict_sgr(s.verdict);
  if (color && sgr) {
    out += "\x1b["sv;
    out += sgr;
    out += 'm';
    out += core::word(s.verdict);
    out += "\x1b[0m"sv;
  } else {
    out += core::word(s.verdict);
  }
  if (!plain) {
    out += ": "sv;
    append_for_terminal(out, s.reason);
  }
  if (s.likely) {
    out += " ("sv;
    out += core::describe(*s.likely);
    out += ')';
  }
  out += '\n';
}

/// " (likely PyTorch, pid 4242 gone)" or "".
std::string likely_suffix(const std::optional<core::Attribution>& a) {
  return a ? " (" + core::describe(*a) + ")" : "";
}

}  // namespace

void print_human(const core::Report& r, std::ostream& out, bool color) {
  using core::ProcessVerdictWord;
  using core::ShmVerdictWord;
  // Every text that reaches the terminal is escaped, reasons too: they quote names (a
  // holder's comm) that another user chose, and a newline or ESC there would forge lines.
  for (const auto& p : r.processes)
    out << fmt::format("process {} ({}): {}: {}\n", p.pid, escape_for_terminal(p.comm),
                       paint(core::word(p.verdict), verdict_sgr(p.verdict), color),
                       escape_for_terminal(p.reason));
  std::string lines;
  for (const auto& s : r.shm) {
    append_shm_line(lines, s, color);
    if (lines.size() > 65536) {
      out << lines;
      lines.clear();
    }
  }
  out << lines;
  for (const auto& sw : r.sweeps) {
    if (!sw.note.empty())
      for (const auto& d : sw.dirs)
        out << fmt::format("{} {}: {}\n", sw.kind, escape_for_terminal(d), sw.note);
    for (const auto& i : sw.items) {
      std::string extra = likely_suffix(i.likely);
      if (!i.name_pid_note.empty()) extra += " [" + i.name_pid_note + "]";
      out << fmt::format("{} {}: {}: {}{}\n", sw.kind, escape_for_terminal(i.name),
                         core::word(i.outcome), escape_for_terminal(i.reason), extra);
    }
  }
  unsigned long long unlinked_bytes = 0;
  for (const auto& u : r.unlinked) {
    unlinked_bytes += u.size;
    out << fmt::format("unlinked but {} ({}): pid {} ({}) holds {} bytes until it exits\n",
                       u.mapped ? "mapped" : "open", u.kind, u.pid, escape_for_terminal(u.comm),
                       u.size);
  }
  std::vector<std::string> blockers;
  for (const auto& u : r.uninspectable)
    if (u.blocked_something) {
      out << fmt::format(
          "uninspectable pid {} ({}) uid {}: {}\n", u.pid, escape_for_terminal(u.comm),
          u.uid ? std::to_string(*u.uid) : std::string("?"), escape_for_terminal(u.reason));
      blockers.push_back(fmt::format("{} ({})", u.pid, escape_for_terminal(u.comm)));
    }

  std::string summary = "summary:";
  if (r.process_phase)
    summary += fmt::format(" processes {} reaped, {} killed, {} survived",
                           r.count(ProcessVerdictWord::Reaped), r.count(ProcessVerdictWord::Killed),
                           r.count(ProcessVerdictWord::Survived));
  if (r.process_phase && r.dry_run)
    summary +=
        fmt::format(" ({} would be reaped, {} killed at once)",
                    r.count(ProcessVerdictWord::WouldReap), r.count(ProcessVerdictWord::WouldKill));
  if (r.process_phase && r.shm_phase) summary += ";";
  if (r.shm_phase) {
    summary += fmt::format(
        " shm {} {}, {} kept, {} errors",
        r.dry_run ? r.count(ShmVerdictWord::WouldUnlink) : r.count(ShmVerdictWord::Unlinked),
        r.dry_run ? "would be unlinked" : "unlinked", r.count(ShmVerdictWord::Kept),
        r.count(ShmVerdictWord::Error));
    if (std::size_t gone = r.count(ShmVerdictWord::Gone))
      summary += fmt::format(", {} already gone", gone);
  }
  for (const char* kind : {"uds", "mqueue", "sysv"}) {
    bool ran = false;
    for (const auto& sw : r.sweeps) ran |= sw.kind == kind;
    if (!ran) continue;
    using core::SweepVerdictWord;
    summary +=
        fmt::format("{} {} {} {}, {} kept, {} errors", summary == "summary:" ? "" : ";", kind,
                    r.dry_run ? r.count(kind, SweepVerdictWord::WouldRemove)
                              : r.count(kind, SweepVerdictWord::Removed),
                    r.dry_run ? "would be removed" : "removed",
                    r.count(kind, SweepVerdictWord::Kept), r.count(kind, SweepVerdictWord::Error));
  }
  if (!r.unlinked.empty())
    summary +=
        fmt::format("; {} unlinked files still held ({} bytes)", r.unlinked.size(), unlinked_bytes);
  if (!r.uninspectable.empty()) {
    // Name the ones that mattered, or say that none did.
    if (blockers.empty()) {
      summary += fmt::format(
          "; {} process{} could not be inspected, none of which could hold "
          "these segments",
          r.uninspectable.size(), r.uninspectable.size() == 1 ? "" : "es");
    } else {
      std::string names;
      for (std::size_t i = 0; i < blockers.size() && i < 5; ++i)
        names += (i ? ", " : "") + blockers[i];
      if (blockers.size() > 5) names += fmt::format(" and {} more", blockers.size() - 5);
      summary += fmt::format(
          "; {} process{} could not be inspected, and these could hold "
          "segments, which are kept: pid {}",
          r.uninspectable.size(), r.uninspectable.size() == 1 ? "" : "es", names);
    }
  }
  if (r.command_status) summary += fmt::format("; command exited {}", *r.command_status);
  if (r.dry_run) summary += " (dry run: nothing was done)";
  out << summary << "\n";
}

void print_report(const Options& o, const core::Report& report, std::ostream& out) {
  if (o.json) {
    print_json(report, out);
  } else {
    print_human(report, out);
  }
  out.flush();
}

void print_json(const core::Report& r, std::ostream& out) {
  using core::ProcessVerdictWord;
  using core::ShmVerdictWord;
  // Written item by item rather than as one json value: a sweep of 100,000 entries would
  // otherwise hold a second, larger copy of the report in memory.
  auto dump = [](const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::strict); };
  out << "{\"version\":1,\"dry_run\":" << (r.dry_run ? "true" : "false") << ",\"uid\":" << r.uid
      << ",\"exit_code\":" << r.final_exit_code.value_or(r.exit_code());
  if (r.command_status) out << ",\"command_exit_status\":" << *r.command_status;
  out << ",\"processes\":";
  if (r.process_phase) {
    out << "{\"mode\":" << dump(r.mode) << ",\"items\":[";
    bool first = true;
    for (const auto& p : r.processes) {
      json j;
      j["pid"] = p.pid;
      put_bytes(j, "comm", p.comm);
      json args = json::array();
      for (const auto& a : os::split_cmdline(p.cmdline)) {
        if (util::is_valid_utf8(a)) {
          args.push_back(a);
        } else {
          args.push_back(util::to_utf8_lossy(a));
          j["cmdline_hex"] = util::hex(p.cmdline);
        }
      }
      j["cmdline"] = std::move(args);
      j["verdict"] = json_word(core::word(p.verdict));
      j["reason"] = util::to_utf8_lossy(p.reason);
      j["signals"] = p.signals;
      j["seconds"] = p.seconds ? json(*p.seconds) : json(nullptr);
      out << (first ? "" : ",") << dump(j);
      first = false;
    }
    out << "]}";
  } else {
    out << "null";
  }
  out << ",\"shm\":";
  if (r.shm_phase) {
    json dir;
    put_bytes(dir, "dir", r.shm_dir);
    out << "{\"dir\":" << dump(dir["dir"]);
    if (dir.contains("dir_hex")) out << ",\"dir_hex\":" << dump(dir["dir_hex"]);
    out << ",\"items\":[";
    std::string chunk;
    bool first = true;
    for (const auto& s : r.shm) {
      if (!first) chunk += ',';
      first = false;
      append_shm_item(chunk, s);
      if (chunk.size() > 65536) {
        out << chunk;
        chunk.clear();
      }
    }
    out << chunk;
    out << "]}";
  } else {
    out << "null";
  }
  json un = json::array();
  for (const auto& u : r.uninspectable) {
    json j;
    j["pid"] = u.pid;
    put_bytes(j, "comm", u.comm);
    j["uid"] = u.uid ? json(*u.uid) : json(nullptr);
    j["reason"] = util::to_utf8_lossy(u.reason);
    j["blocked"] = u.blocked_something;
    un.push_back(std::move(j));
  }
  json sweeps = json::array();
  for (const auto& sw : r.sweeps) {
    json j;
    j["kind"] = sw.kind;
    j["dirs"] = json::array();
    for (const auto& d : sw.dirs) j["dirs"].push_back(util::to_utf8_lossy(d));
    j["note"] = sw.note.empty() ? json(nullptr) : json(sw.note);
    j["items"] = json::array();
    for (const auto& i : sw.items) j["items"].push_back(sweep_item_json(i));
    sweeps.push_back(std::move(j));
  }
  json unlinked = json::array();
  unsigned long long unlinked_bytes = 0;
  for (const auto& u : r.unlinked) {
    json j;
    j["kind"] = u.kind;
    j["pid"] = u.pid;
    put_bytes(j, "comm", u.comm);
    j["held_by"] = u.mapped ? "mapping" : "fd";
    j["size"] = u.size;
    unlinked_bytes += u.size;
    unlinked.push_back(std::move(j));
  }
  std::size_t removed = 0, would_remove = 0, sweep_errors = 0;
  for (const auto& sw : r.sweeps)
    for (const auto& i : sw.items) {
      removed += i.outcome == core::SweepVerdictWord::Removed;
      would_remove += i.outcome == core::SweepVerdictWord::WouldRemove;
      sweep_errors += i.outcome == core::SweepVerdictWord::Error;
    }
  json summary = {{"reaped", r.count(ProcessVerdictWord::Reaped)},
                  {"killed", r.count(ProcessVerdictWord::Killed)},
                  {"survived", r.count(ProcessVerdictWord::Survived)},
                  {"would_reap", r.count(ProcessVerdictWord::WouldReap)},
                  {"would_kill", r.count(ProcessVerdictWord::WouldKill)},
                  {"unlinked", r.count(ShmVerdictWord::Unlinked)},
                  {"would_unlink", r.count(ShmVerdictWord::WouldUnlink)},
                  {"already_gone", r.count(ShmVerdictWord::Gone)},
                  {"kept", r.count(ShmVerdictWord::Kept)},
                  {"errors", r.count(ShmVerdictWord::Error) + r.count(ProcessVerdictWord::Error) +
                                 sweep_errors},
                  {"removed", removed},
                  {"would_remove", would_remove},
                  {"unlinked_held_bytes", unlinked_bytes}};
  out << ",\"sweeps\":" << dump(sweeps) << ",\"unlinked\":" << dump(unlinked)
      << ",\"uninspectable\":" << dump(un) << ",\"summary\":" << dump(summary) << "}\n";
}

}  // namespace reap::cli
