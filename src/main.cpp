#include "cli/app.hpp"

int main(int argc, char** argv) {
  return reap::cli::run(argc, argv);
}
