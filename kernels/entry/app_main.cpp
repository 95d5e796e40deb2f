// CEDR application entry: the runtime calls main(1, {"cedr_app"}, NULL) once per instance.
// Inputs are the .npy files fixed at convert time (app_inputs/input_<k>.npy beside this shared
// object, or $O2C_APP_INPUTS); each instance writes its outputs to
// app_outputs/instance_<n>/output_<k>.npy (or under $O2C_APP_OUTPUTS).
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "o2c_kernels.h"
#include "o2c_model.h"

namespace {
// The one piece of state instances share: a counter that gives each its own output folder.
std::atomic<int> g_instance{0};

std::string env_or(const char *name, const std::string &fallback) {
  const char *v = std::getenv(name);
  return (v != nullptr && *v != '\0') ? std::string(v) : fallback;
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
  const int instance = g_instance.fetch_add(1);

  std::vector<std::vector<unsigned char>> in(m->n_inputs), out(m->n_outputs);
  std::vector<const void *> in_ptr(m->n_inputs);
  std::vector<void *> out_ptr(m->n_outputs);
  char err[512];
  for (int i = 0; i < m->n_inputs; ++i) {
    const o2c_tensor_info_t &t = m->inputs[i];
    in[i].resize(static_cast<size_t>(t.nbytes) + 1);
    std::string p = in_dir + "/input_" + std::to_string(i) + ".npy";
    if (o2c_npy_read(p.c_str(), t.descr, t.shape, t.rank, in[i].data(), t.descr[2] - '0', err, sizeof err) != 0) {
      std::fprintf(stderr, "[%s] error: input %d: %s\n", m->name, i, err);
      return 2;
    }
    in_ptr[i] = in[i].data();
  }
  for (int i = 0; i < m->n_outputs; ++i) {
    out[i].resize(static_cast<size_t>(m->outputs[i].nbytes) + 1);
    out_ptr[i] = out[i].data();
  }
  int rc = m->run(in_ptr.data(), out_ptr.data());
  if (rc != 0) {
    std::fprintf(stderr, "[%s] error: model run failed (code %d) %s\n", m->name, rc, m->weights_error);
    return 1;
  }
  mkdir(out_root.c_str(), 0755);
  const std::string out_dir = out_root + "/instance_" + std::to_string(instance);
  mkdir(out_dir.c_str(), 0755);
  for (int i = 0; i < m->n_outputs; ++i) {
    const o2c_tensor_info_t &t = m->outputs[i];
    std::string p = out_dir + "/output_" + std::to_string(i) + ".npy";
    if (o2c_npy_write(p.c_str(), t.descr, t.shape, t.rank, out[i].data(), t.descr[2] - '0') != 0) {
      std::fprintf(stderr, "[%s] error: cannot write '%s'\n", m->name, p.c_str());
      return 1;
    }
  }
  return 0;
}
