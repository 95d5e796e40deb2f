// fuzz_npy.cpp - libFuzzer harness of the .npy reader (kernels/src/cpu/npy.cpp o2c_npy_read), which
// the app and the executable use for their inputs.
// Input: byte 0 picks the expected dtype, byte 1 the expected rank (0..4), then one little-endian
// uint16 per dimension; the rest is the file. A read succeeds (and then fills exactly the expected
// bytes) or returns -1 with a one-line reason.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_common.h"
#include "o2c_kernels.h"

namespace {
struct Dtype {
  const char *descr;
  int64_t size;
};
constexpr Dtype kDtypes[] = {{"<f4", 4}, {"<f8", 8}, {"<i8", 8}, {"<i4", 4}, {"|u1", 1},
                             {"|b1", 1}, {"<f2", 2}, {"<u2", 2}, {">f4", 4}, {"<c8", 8}};
constexpr size_t kMaxBytes = size_t(1) << 22;  // the harness's buffer, at most
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  const Dtype &dt = kDtypes[data[0] % (sizeof kDtypes / sizeof kDtypes[0])];
  const int32_t rank = data[1] % 5;
  size_t pos = 2;
  if (size < pos + 2 * size_t(rank)) return 0;
  std::vector<int64_t> shape(size_t(rank) + 1);  // +1: a valid pointer for rank 0
  size_t count = 1;
  for (int32_t d = 0; d < rank; ++d, pos += 2) {
    shape[size_t(d)] = data[pos] | (int64_t(data[pos + 1]) << 8);
    count *= size_t(shape[size_t(d)]);
    if (count * size_t(dt.size) > kMaxBytes) return 0;  // beyond the buffer: not this harness's case
  }
  const size_t bytes = count * size_t(dt.size);
  MemFile f(data + pos, size - pos);
  // one guard byte past the expected data: the reader must not write it
  std::vector<unsigned char> dst(bytes + 1, 0xA5);
  char err[512];
  std::memset(err, 'x', sizeof err);
  const int rc = o2c_npy_read(f.path().c_str(), dt.descr, shape.data(), rank, dst.data(), dt.size, err, sizeof err);
  if (dst[bytes] != 0xA5) {
    std::fprintf(stderr, "o2c_npy_read wrote past the %zu expected bytes\n", bytes);
    std::abort();
  }
  if (rc == 0) {
    if (err[0] != '\0') std::abort();  // success clears the reason
    // the data is the bytes right after the header (10 or 12 bytes of preamble, then its length)
    const uint8_t *file = data + pos;
    const size_t fsize = size - pos;
    const bool v1 = file[6] == 1;
    size_t off = v1 ? 10 + (file[8] | size_t(file[9]) << 8)
                    : 12 + (file[8] | size_t(file[9]) << 8 | size_t(file[10]) << 16 | size_t(file[11]) << 24);
    if (off + bytes > fsize || (bytes > 0 && std::memcmp(dst.data(), file + off, bytes) != 0)) {
      std::fprintf(stderr, "o2c_npy_read succeeded but its data is not the file's bytes after the header\n");
      std::abort();
    }
  } else if (rc == -1) {
    if (std::memchr(err, '\0', sizeof err) == nullptr) std::abort();
    check_one_line("o2c_npy_read", err);
  } else {
    std::fprintf(stderr, "o2c_npy_read returned %d\n", rc);
    std::abort();
  }
  return 0;
}
