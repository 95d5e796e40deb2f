// fuzz_common.h - shared by the libFuzzer harnesses: fuzz bytes as a file (the parsers read paths).
#ifndef O2C_FUZZ_COMMON_H
#define O2C_FUZZ_COMMON_H

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

// An anonymous in-memory file holding the bytes, read through /proc/self/fd/N; closing it frees it.
class MemFile {
 public:
  MemFile(const uint8_t *data, size_t size) {
    fd_ = memfd_create("o2c-fuzz", MFD_CLOEXEC);
    if (fd_ < 0) die("memfd_create");
    size_t done = 0;
    while (done < size) {
      ssize_t n = write(fd_, data + done, size - done);
      if (n <= 0) die("write");
      done += size_t(n);
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  ~MemFile() { close(fd_); }
  MemFile(const MemFile &) = delete;
  MemFile &operator=(const MemFile &) = delete;
  const std::string &path() const { return path_; }

 private:
  [[noreturn]] static void die(const char *what) {
    std::perror(what);
    std::abort();
  }
  int fd_ = -1;
  std::string path_;
};

// A reason string the parser wrote must be one line (the CLI prints it as one).
inline void check_one_line(const char *what, const std::string &msg) {
  if (msg.empty() || msg.find('\n') != std::string::npos) {
    std::fprintf(stderr, "%s: the error message is empty or not one line: '%s'\n", what, msg.c_str());
    std::abort();
  }
}

#endif  // O2C_FUZZ_COMMON_H
