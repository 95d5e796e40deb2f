"""A stand-in for the CEDR runtime in tests: a host program that dlopens a converted model's app with
the inline DASH_* APIs defined (as the runtime's executable defines them) and calls its main() for
some instances at once, exiting with their statuses or-ed together."""
from __future__ import annotations

import subprocess
from pathlib import Path

HOST = r'''
#include <dlfcn.h>
#include <cstdio>
#include <thread>
#include <vector>
int main(int argc, char** argv) {
  void* h = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
  if (!h) { std::fprintf(stderr, "%s\n", dlerror()); return 3; }
  auto app_main = (int (*)(int, char**, char**))dlsym(h, "main");
  std::vector<std::thread> ts; int rc[INSTANCES] = {0};
  for (int i = 0; i < INSTANCES; ++i) ts.emplace_back([&, i] { char a[] = "cedr_app"; char* av[] = {a, nullptr}; rc[i] = app_main(1, av, nullptr); });
  for (auto& t : ts) t.join();
  int all = 0;
  for (int r : rc) all |= r;
  return all;
}
'''


def build_app_host(folder: Path, instances: int = 1) -> Path:
    """Compile the host into folder; run it as `host APP.so`."""
    from onnx2cedr.build import KernelLib

    kl = KernelLib().ensure()
    src = folder / "host.cpp"
    src.write_text(HOST)
    host = folder / "host"
    subprocess.run(["g++", "-std=c++17", "-O1", f"-DINSTANCES={int(instances)}", str(src), "-o", str(host),
                    "-Wl,--whole-archive", str(kl.inline), "-Wl,--no-whole-archive", str(kl.core), "-rdynamic",
                    "-ldl", "-pthread"], check=True)
    return host
