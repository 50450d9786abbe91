#include "cli/app.hpp"
#include "cli/tractor_front.hpp"

int main(int argc, char** argv) {
  if (argc > 0 && reap::cli::invoked_as_tractor(argv[0]))
    return reap::cli::tractor_main(argc, argv);
  return reap::cli::run(argc, argv);
}
