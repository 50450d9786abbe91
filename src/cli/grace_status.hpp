// The live status line during a grace wait: on a terminal (stderr) only, redrawn in place,
// "reap: 3 processes still alive, 2.4 s left, then SIGKILL". Nothing on a pipe or a file.
#pragma once

#include <cstddef>
#include <functional>

namespace reap::cli {

class GraceStatus {
 public:
  /// Shows the line only when stderr is a terminal (and TERM is not "dumb").
  GraceStatus();
  /// The callback for os::EscalationOptions::on_wait; empty when there is no terminal.
  std::function<void(std::size_t, double, bool)> callback();
  /// Erases the line, if one was drawn.
  void clear();

 private:
  bool tty_ = false;
  bool drawn_ = false;
  double first_ = -1;  ///< monotonic time of the first tick of this wait
};

}  // namespace reap::cli
