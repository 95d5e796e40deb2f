// Standalone executable entry: ./<model> in0.npy [in1.npy ...] -o DIR [--repeat N]
// Writes DIR/output_0.npy, DIR/output_1.npy, ...
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "entry_io.h"

static int usage(const o2c_model_info_t *m) {
  std::fprintf(stderr, "usage: %s", m->name);
  for (int i = 0; i < m->n_inputs; ++i) std::fprintf(stderr, " %s.npy", m->inputs[i].name);
  std::fprintf(stderr, " -o OUTPUT_DIR [--repeat N]\n");
  return 2;
}

int main(int argc, char **argv) {
  const o2c_model_info_t *m = o2c_model_info();
  std::vector<std::string> paths;
  std::string out_dir;
  long repeat = 1;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "-o") && i + 1 < argc) {
      out_dir = argv[++i];
    } else if (!std::strcmp(argv[i], "--repeat") && i + 1 < argc) {
      repeat = std::strtol(argv[++i], nullptr, 10);
    } else if (!std::strcmp(argv[i], "-h") || !std::strcmp(argv[i], "--help")) {
      return usage(m);
    } else {
      paths.push_back(argv[i]);
    }
  }
  if (out_dir.empty() || static_cast<int>(paths.size()) != m->n_inputs || repeat < 1) return usage(m);
  o2c_entry::RunBuffers io(m);
  char err[512];
  for (int i = 0; i < m->n_inputs; ++i) {
    if (!io.read_input(m, i, paths[i], err, sizeof err)) {
      std::fprintf(stderr, "error: input %d ('%s'): %s\n", i, m->inputs[i].name, err);
      return 2;
    }
  }
  auto t0 = std::chrono::steady_clock::now();
  for (long r = 0; r < repeat; ++r) {
    int rc = io.run(m);
    if (rc == O2C_ERR_WEIGHTS) {  // a bad weights file is bad input: one line, exit 2
      std::fprintf(stderr, "error: %s\n", m->weights_error);
      return 2;
    }
    if (rc == O2C_ERR_BOUND) {  // a dimension known only at run time over its bound: one line, exit 3
      std::fprintf(stderr, "error: %s\n", m->last_error());
      return 3;
    }
    if (rc != 0) {
      std::fprintf(stderr, "error: model run failed (code %d)\n", rc);
      return 1;
    }
  }
  auto t1 = std::chrono::steady_clock::now();
  const std::string failed = io.write_outputs(m, out_dir);
  if (!failed.empty()) {
    std::fprintf(stderr, "error: cannot write '%s'\n", failed.c_str());
    return 1;
  }
  if (repeat > 1) {
    double us = std::chrono::duration<double, std::micro>(t1 - t0).count() / static_cast<double>(repeat);
    std::printf("%s: %.3f us per run (%ld runs)\n", m->name, us, repeat);
  }
  return 0;
}
