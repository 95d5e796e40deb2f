// fuzz_weights.cpp - libFuzzer harness of the weights-file loader (kernels/src/support/
// model_support.cpp o2c_weights_map: size, CRC-32, magic, model id) and of the CRC-32 itself
// (kernels/src/support/crc32.cpp, slicing-by-8, checked against a bitwise reference).
// Input: byte 0 is a mode, the rest is the weights file. Mode bits: 1 = the harness writes the
// file's true CRC into its header and passes it (so the magic and model-id checks are reached),
// 2 = the expected model id is the header's own, 4 = the expected payload size is off by one,
// 8 = the check is switched off ($O2C_WEIGHTS_CHECK=0).
#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_common.h"
#include "o2c_model.h"

namespace {
uint32_t crc_bitwise(uint32_t crc, const uint8_t *p, size_t n) {
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) {
    crc ^= p[i];
    for (int k = 0; k < 8; ++k) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

// the file's checksum as convert writes it (onnx2cedr/plan.py write_weights): payload, then the
// header without bytes 24..28
uint32_t file_crc_ref(const std::vector<uint8_t> &f) {
  uint32_t c = crc_bitwise(0, f.data() + 64, f.size() - 64);
  c = crc_bitwise(c, f.data(), 24);
  return crc_bitwise(c, f.data() + 28, 36);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0];
  std::vector<uint8_t> file(data + 1, data + size);

  // the CRC, in two pieces split anywhere, equals the bitwise one
  const size_t cut = file.empty() ? 0 : mode % (file.size() + 1);
  const uint32_t whole = crc_bitwise(0, file.data(), file.size());
  const uint32_t fast = o2c_crc32(o2c_crc32(0, file.data(), cut), file.data() + cut, file.size() - cut);
  if (fast != whole) {
    std::fprintf(stderr, "o2c_crc32 gives %08x over %zu bytes (cut at %zu), the bitwise CRC-32 %08x\n", fast,
                 file.size(), cut, whole);
    std::abort();
  }

  uint32_t crc = 0;
  uint64_t id = 0x0123456789abcdefULL;
  if (file.size() >= 64) {
    if (mode & 1) {
      crc = file_crc_ref(file);
      std::memcpy(file.data() + 24, &crc, 4);
    } else {
      std::memcpy(&crc, file.data() + 24, 4);
    }
    if (mode & 2) std::memcpy(&id, file.data() + 8, 8);
  }
  size_t payload = file.size() >= 64 ? file.size() - 64 : 0;
  if (mode & 4) payload += (mode & 16) ? size_t(-1) : 1;  // one short, one over (or the wrap-around)
  setenv("O2C_WEIGHTS_CHECK", (mode & 8) ? "0" : "1", 1);

  MemFile f(file.data(), file.size());
  setenv("O2C_WEIGHTS", f.path().c_str(), 1);
  char err[1024];
  err[0] = '\0';
  const void *p = o2c_weights_map("unused.weights", id, payload, crc, nullptr, err, sizeof err);
  if (p == nullptr) {
    check_one_line("o2c_weights_map", err);
    return 0;
  }
  // accepted: the file is exactly header + payload, its magic and id are right and (checked) its CRC
  const bool checked = !(mode & 8);
  uint64_t fid = 0;
  if (file.size() != 64 + payload) std::abort();
  std::memcpy(&fid, file.data() + 8, 8);
  if (std::memcmp(file.data(), "O2CWGT02", 8) != 0 || fid != id) std::abort();
  if (checked && file_crc_ref(file) != crc) {
    std::fprintf(stderr, "o2c_weights_map accepted a file whose CRC is not the expected one\n");
    std::abort();
  }
  const uint8_t *base = static_cast<const uint8_t *>(p) - 64;
  if (std::memcmp(base, file.data(), file.size()) != 0) std::abort();
  munmap(const_cast<uint8_t *>(base), file.size());
  return 0;
}
