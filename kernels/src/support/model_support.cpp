// Support for generated models: weights mapping, binary location, arena allocation.
#include "o2c_model.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {
constexpr size_t kHeader = 64;
constexpr char kMagic[8] = {'O', '2', 'C', 'W', 'G', 'T', '0', '2'};
constexpr size_t kCrcAt = 24;  // the header's copy of the CRC-32 (4 bytes)

// The checksum of a mapped weights file: the payload, then the header without its CRC field.
uint32_t file_crc(const unsigned char *h, size_t payload_bytes) {
  uint32_t c = o2c_crc32(0, h + kHeader, payload_bytes);
  c = o2c_crc32(c, h, kCrcAt);
  return o2c_crc32(c, h + kCrcAt + 4, kHeader - kCrcAt - 4);
}

bool check_enabled() {
  const char *v = std::getenv("O2C_WEIGHTS_CHECK");
  return v == nullptr || std::strcmp(v, "0") != 0;
}

std::string dir_of(const std::string &path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash + 1);
}
}  // namespace

extern "C" void o2c_self_dir(void *addr, char *out, size_t out_len) {
  std::string dir;
  Dl_info info;
  if (dladdr(addr, &info) != 0 && info.dli_fname != nullptr && std::strchr(info.dli_fname, '/') != nullptr) {
    char resolved[4096];
    dir = dir_of(realpath(info.dli_fname, resolved) ? std::string(resolved) : std::string(info.dli_fname));
  }
  if (dir.empty()) {
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
      exe[n] = '\0';
      dir = dir_of(exe);
    }
  }
  std::snprintf(out, out_len, "%s", dir.c_str());
}

extern "C" const void *o2c_weights_map(const char *file_name, uint64_t model_id, size_t payload_bytes,
                                       uint32_t crc32, void *self_addr, char *err, size_t err_len) {
  std::string path;
  const char *env = std::getenv("O2C_WEIGHTS");
  if (env != nullptr && *env != '\0') {
    path = env;
  } else {
    char dir[4096];
    o2c_self_dir(self_addr, dir, sizeof dir);
    path = std::string(dir) + file_name;
  }
  if (payload_bytes > SIZE_MAX - kHeader) {  // header + payload would wrap around to a small size
    std::snprintf(err, err_len, "weights file '%s': a payload of %zu bytes cannot be mapped", path.c_str(),
                  payload_bytes);
    return nullptr;
  }
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    std::snprintf(err, err_len, "cannot open weights file '%s': %s", path.c_str(), std::strerror(errno));
    return nullptr;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || static_cast<size_t>(st.st_size) != kHeader + payload_bytes) {
    std::snprintf(err, err_len, "weights file '%s' has %lld bytes, expected %zu", path.c_str(),
                  static_cast<long long>(st.st_size), kHeader + payload_bytes);
    close(fd);
    return nullptr;
  }
  void *base = mmap(nullptr, kHeader + payload_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (base == MAP_FAILED) {
    std::snprintf(err, err_len, "cannot map weights file '%s': %s", path.c_str(), std::strerror(errno));
    return nullptr;
  }
  const unsigned char *h = static_cast<const unsigned char *>(base);
  auto fail = [&] {
    munmap(base, kHeader + payload_bytes);
    return nullptr;
  };
  if (check_enabled()) {
    uint32_t stored = 0;
    std::memcpy(&stored, h + kCrcAt, 4);
    const uint32_t got = file_crc(h, payload_bytes);
    if (got != crc32 || stored != crc32) {
      std::snprintf(err, err_len,
                    "weights file '%s': checksum mismatch (expected %08x, got %08x%s): the file is corrupt or "
                    "from another conversion",
                    path.c_str(), crc32, got != crc32 ? got : stored, got != crc32 ? "" : " in its header");
      return fail();
    }
  }
  uint64_t id = 0;
  std::memcpy(&id, h + 8, 8);
  if (std::memcmp(h, kMagic, 8) != 0 || id != model_id) {
    std::snprintf(err, err_len, "weights file '%s' does not belong to this model (magic or model id differ)",
                  path.c_str());
    return fail();
  }
  return h + kHeader;
}

extern "C" void *o2c_arena_alloc(size_t bytes) {
  if (bytes == 0) return nullptr;
  void *p = nullptr;
  if (posix_memalign(&p, 64, (bytes + 63) / 64 * 64) != 0) return nullptr;
  return p;
}

extern "C" void o2c_arena_free(void *p) { std::free(p); }
