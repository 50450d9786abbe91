// ANSI colours for verdict words on a terminal (see Sinks::color_on for when).
#pragma once

#include <string>
#include <string_view>

#include "core/report.hpp"

namespace reap::cli {

inline std::string paint(std::string_view text, const char* sgr, bool on) {
  if (!on || !sgr) return std::string(text);
  return std::string("\x1b[") + sgr + "m" + std::string(text) + "\x1b[0m";
}

/// green: done cleanly; yellow: needed force; red: failed; cyan: would be done; dim: left.
inline const char* verdict_sgr(core::ProcessVerdictWord v) {
  using W = core::ProcessVerdictWord;
  switch (v) {
    case W::Reaped:
      return "32";
    case W::Killed:
      return "33";
    case W::Survived:
    case W::Error:
      return "1;31";
    case W::WouldReap:
    case W::WouldKill:
      return "36";
    case W::Gone:
    case W::Kept:
      return "2";
  }
  return nullptr;
}

inline const char* verdict_sgr(core::ShmVerdictWord v) {
  using W = core::ShmVerdictWord;
  switch (v) {
    case W::Unlinked:
    case W::Gone:
      return "32";
    case W::WouldUnlink:
      return "36";
    case W::Error:
      return "1;31";
    case W::Kept:
    case W::Skipped:
      return "2";
  }
  return nullptr;
}

}  // namespace reap::cli
