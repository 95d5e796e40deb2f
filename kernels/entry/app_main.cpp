// CEDR application entry: the runtime calls main(1, {"cedr_app"}, NULL) once per instance.
// Inputs are the .npy files fixed at convert time (app_inputs/input_<k>.npy beside this shared
// object, or $O2C_APP_INPUTS); each instance writes its outputs to
// app_outputs/instance_<n>/output_<k>.npy (or under $O2C_APP_OUTPUTS).
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "entry_io.h"

namespace {
// The one piece of state instances share: a counter that gives each its own output folder.
std::atomic<int> g_instance{0};

std::string env_or(const char *name, const std::string &fallback) {
  const char *v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? std::string(v) : fallback;
}

// This instance's number: O2C_APP_INSTANCE when the runtime runs the instance in a process of its
// own (cedr-run --isolate sets it in the child, where the counter below is a private copy), else
// the shared counter.
int instance_number() {
  const char *v = std::getenv("O2C_APP_INSTANCE");
  if (v != nullptr && *v != '\0') {
    char *end = nullptr;
    const long n = std::strtol(v, &end, 10);
    if (*end == '\0' && n >= 0 && n < (1L << 30)) return static_cast<int>(n);
  }
  return g_instance.fetch_add(1);
}
}  // namespace

extern "C" __attribute__((visibility("default"))) int main(int argc, char **argv) {
  (void)argc;
  (void)argv;
  const o2c_model_info_t *m = o2c_model_info();
  char dir[4096];
  o2c_self_dir(reinterpret_cast<void *>(&o2c_model_info), dir, sizeof dir);
  const std::string in_dir = env_or("O2C_APP_INPUTS", std::string(dir) + "app_inputs");
  const std::string out_root = env_or("O2C_APP_OUTPUTS", std::string(dir) + "app_outputs");
  const int instance = instance_number();

  o2c_entry::RunBuffers io(m);
  char err[512];
  for (int i = 0; i < m->n_inputs; ++i) {
    if (!io.read_input(m, i, in_dir + "/input_" + std::to_string(i) + ".npy", err, sizeof err)) {
      std::fprintf(stderr, "[%s] error: input %d: %s\n", m->name, i, err);
      return 2;
    }
  }
  int rc = io.run(m);
  if (rc == O2C_ERR_WEIGHTS) {  // missing, corrupt or another model's weights file
    std::fprintf(stderr, "[%s] error: %s\n", m->name, m->weights_error);
    return 2;
  }
  if (rc == O2C_ERR_BOUND) {  // a dimension known only at run time over its bound
    std::fprintf(stderr, "[%s] error: %s\n", m->name, m->last_error());
    return 3;
  }
  if (rc != 0) {
    std::fprintf(stderr, "[%s] error: model run failed (code %d) %s\n", m->name, rc, m->weights_error);
    return 1;
  }
  mkdir(out_root.c_str(), 0755);
  const std::string failed = io.write_outputs(m, out_root + "/instance_" + std::to_string(instance));
  if (!failed.empty()) {
    std::fprintf(stderr, "[%s] error: cannot write '%s'\n", m->name, failed.c_str());
    return 1;
  }
  return 0;
}
