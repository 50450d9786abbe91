// Rendering of raw byte strings (file names, cmdlines) for people and for JSON.
#pragma once

#include <string>
#include <string_view>

namespace reap::util {

/// One-line, lossless rendering for the human report: printable UTF-8 is kept, "\\" becomes
/// "\\\\", "\n" "\\n", "\t" "\\t", and every other control byte or invalid UTF-8 byte "\\xNN".
/// C1 controls, U+2028/U+2029 and bidi controls are written byte by byte as "\\xNN" too.
std::string escape_for_terminal(std::string_view bytes);

/// True when `bytes` are printable ASCII without '\\', so escape_for_terminal(bytes) ==
/// bytes (a fast test; printable non-ASCII UTF-8 is left unchanged too but gives false).
bool plain_for_terminal(std::string_view bytes);

/// True when `bytes` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool is_valid_utf8(std::string_view bytes);

/// `bytes` with each byte of an ill-formed sequence replaced by U+FFFD (valid UTF-8 out).
std::string to_utf8_lossy(std::string_view bytes);

/// Lower-case hex of the raw bytes.
std::string hex(std::string_view bytes);

}  // namespace reap::util
