// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320): the checksum of zlib.crc32, which
// onnx2cedr computes while it writes a weights file. Slicing-by-8: eight 256-entry tables, built
// at compile time, let the loop consume 8 bytes per step with 8 independent table reads.
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "o2c_model.h"

namespace {

struct Tables {
  uint32_t t[8][256];
};

constexpr Tables make_tables() {
  Tables r{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1u) ? (c >> 1) ^ 0xEDB88320u : (c >> 1);
    r.t[0][i] = c;
  }
  // t[k][i]: the CRC of byte i followed by k zero bytes
  for (int k = 1; k < 8; ++k)
    for (uint32_t i = 0; i < 256; ++i) r.t[k][i] = (r.t[k - 1][i] >> 8) ^ r.t[0][r.t[k - 1][i] & 0xFFu];
  return r;
}

constexpr Tables kTables = make_tables();

}  // namespace

extern "C" uint32_t o2c_crc32(uint32_t crc, const void *data, size_t n) {
  const auto &t = kTables.t;
  const unsigned char *p = static_cast<const unsigned char *>(data);
  uint32_t c = ~crc;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  for (; n > 0 && (reinterpret_cast<uintptr_t>(p) & 7u) != 0; --n) c = (c >> 8) ^ t[0][(c ^ *p++) & 0xFFu];
  for (; n >= 8; n -= 8, p += 8) {
    uint32_t lo, hi;  // little-endian words
    std::memcpy(&lo, p, 4);
    std::memcpy(&hi, p + 4, 4);
    lo ^= c;
    c = t[7][lo & 0xFFu] ^ t[6][(lo >> 8) & 0xFFu] ^ t[5][(lo >> 16) & 0xFFu] ^ t[4][lo >> 24] ^
        t[3][hi & 0xFFu] ^ t[2][(hi >> 8) & 0xFFu] ^ t[1][(hi >> 16) & 0xFFu] ^ t[0][hi >> 24];
  }
#endif
  for (; n > 0; --n) c = (c >> 8) ^ t[0][(c ^ *p++) & 0xFFu];
  return ~c;
}
