/*
 * npy.cpp - .npy reading and writing (format versions 1.0, 2.0 and 3.0; little-endian, C order).
 */
#include "internal.h"

#include <cctype>
#include <cerrno>
#include <string>
#include <vector>

using o2c::detail::round_up;

namespace {

/* the reason, one line: control characters (a header's descr may hold a newline) are written \xNN */
void set_err(char *err, size_t err_len, const char *path, const std::string &msg) {
  if (!err || err_len == 0) return;
  const std::string raw = std::string(path ? path : "(null)") + ": " + msg;
  std::string line;
  for (unsigned char c : raw) {
    if (c < 0x20 || c == 0x7f) {
      char esc[5];
      std::snprintf(esc, sizeof esc, "\\x%02x", c);
      line += esc;
    } else {
      line += static_cast<char>(c);
    }
  }
  std::snprintf(err, err_len, "%s", line.c_str());
}

/* byte order of a descriptor folded to '<' where it makes no difference on a little-endian host */
std::string normalize_descr(const std::string &d) {
  if (d.size() < 2) return d;
  std::string s = d;
  const char o = s[0];
  if (o != '<' && o != '>' && o != '|' && o != '=') return s;
  if (o == '=' || o == '|') s[0] = '<';
  /* single-byte types have no byte order */
  size_t i = 2;
  while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) ++i;
  if (i == s.size() && s.substr(2) == "1") s[0] = '<';
  return s;
}

/* the itemsize digits of a descriptor such as "<f4" (-1 when absent) */
long descr_itemsize(const std::string &d) {
  size_t i = 0;
  while (i < d.size() && !std::isdigit(static_cast<unsigned char>(d[i]))) ++i;
  if (i == d.size()) return -1;
  return std::strtol(d.c_str() + i, nullptr, 10);
}

size_t skip_ws(const std::string &h, size_t i) {
  while (i < h.size() && std::isspace(static_cast<unsigned char>(h[i]))) ++i;
  return i;
}

/* position just after "<key>" and the following ':' (npos when absent) */
size_t find_key(const std::string &h, const char *key) {
  const std::string k1 = std::string("'") + key + "'", k2 = std::string("\"") + key + "\"";
  size_t pos = h.find(k1);
  size_t klen = k1.size();
  if (pos == std::string::npos) {
    pos = h.find(k2);
    klen = k2.size();
  }
  if (pos == std::string::npos) return std::string::npos;
  size_t i = skip_ws(h, pos + klen);
  if (i >= h.size() || h[i] != ':') return std::string::npos;
  return skip_ws(h, i + 1);
}

bool parse_header(const std::string &h, std::string &descr, bool &fortran, std::vector<int64_t> &shape,
                  std::string &why) {
  size_t i = find_key(h, "descr");
  if (i == std::string::npos || i >= h.size() || (h[i] != '\'' && h[i] != '"')) {
    why = "header has no 'descr' string";
    return false;
  }
  const char q = h[i];
  const size_t e = h.find(q, i + 1);
  if (e == std::string::npos) {
    why = "unterminated 'descr' string in header";
    return false;
  }
  descr = h.substr(i + 1, e - i - 1);
  i = find_key(h, "fortran_order");
  if (i == std::string::npos) {
    why = "header has no 'fortran_order'";
    return false;
  }
  if (h.compare(i, 4, "True") == 0) {
    fortran = true;
  } else if (h.compare(i, 5, "False") == 0) {
    fortran = false;
  } else {
    why = "bad 'fortran_order' value in header";
    return false;
  }
  i = find_key(h, "shape");
  if (i == std::string::npos || i >= h.size() || h[i] != '(') {
    why = "header has no 'shape' tuple";
    return false;
  }
  ++i;
  shape.clear();
  for (;;) {
    i = skip_ws(h, i);
    if (i >= h.size()) {
      why = "unterminated 'shape' tuple in header";
      return false;
    }
    if (h[i] == ')') break;
    if (!std::isdigit(static_cast<unsigned char>(h[i]))) {
      why = "bad 'shape' tuple in header";
      return false;
    }
    int64_t v = 0;
    while (i < h.size() && std::isdigit(static_cast<unsigned char>(h[i]))) {
      v = v * 10 + (h[i] - '0');
      if (v > (int64_t(1) << 50)) {
        why = "dimension too large in 'shape'";
        return false;
      }
      ++i;
    }
    while (i < h.size() && (h[i] == 'L' || h[i] == 'l')) ++i; /* python 2 longs */
    shape.push_back(v);
    i = skip_ws(h, i);
    if (i < h.size() && h[i] == ',') ++i;
  }
  return true;
}

std::string shape_str(const int64_t *shape, int32_t rank) {
  std::string s = "(";
  for (int32_t d = 0; d < rank; ++d) {
    if (d) s += ", ";
    s += std::to_string(static_cast<long long>(shape[d]));
  }
  if (rank == 1) s += ",";
  return s + ")";
}

std::string shape_str(const std::vector<int64_t> &v) {
  return shape_str(v.data(), static_cast<int32_t>(v.size()));
}

struct File {
  FILE *f = nullptr;
  ~File() {
    if (f) std::fclose(f);
  }
};

} /* namespace */

extern "C" int o2c_npy_read(const char *path, const char *descr, const int64_t *shape, int32_t rank, void *dst,
                            int64_t elem_size, char *err, size_t err_len) {
  if (err && err_len) err[0] = '\0';
  if (!path || !descr || rank < 0 || (rank > 0 && !shape) || elem_size <= 0) {
    set_err(err, err_len, path, "invalid arguments");
    return -1;
  }
  File file;
  file.f = std::fopen(path, "rb");
  if (!file.f) {
    set_err(err, err_len, path, std::string("cannot open: ") + std::strerror(errno));
    return -1;
  }
  unsigned char pre[10];
  if (std::fread(pre, 1, 8, file.f) != 8 || std::memcmp(pre, "\x93NUMPY", 6) != 0) {
    set_err(err, err_len, path, "not a .npy file (bad magic)");
    return -1;
  }
  const int major = pre[6];
  uint64_t hlen = 0;
  if (major == 1) {
    if (std::fread(pre + 8, 1, 2, file.f) != 2) {
      set_err(err, err_len, path, "truncated .npy header");
      return -1;
    }
    hlen = pre[8] | (static_cast<uint64_t>(pre[9]) << 8);
  } else if (major == 2 || major == 3) {
    unsigned char l[4];
    if (std::fread(l, 1, 4, file.f) != 4) {
      set_err(err, err_len, path, "truncated .npy header");
      return -1;
    }
    hlen = l[0] | (static_cast<uint64_t>(l[1]) << 8) | (static_cast<uint64_t>(l[2]) << 16) |
           (static_cast<uint64_t>(l[3]) << 24);
  } else {
    set_err(err, err_len, path, "unsupported .npy format version " + std::to_string(major));
    return -1;
  }
  if (hlen > (64u << 20)) {
    set_err(err, err_len, path, "implausible .npy header length");
    return -1;
  }
  std::string header(static_cast<size_t>(hlen), '\0');
  if (hlen && std::fread(&header[0], 1, static_cast<size_t>(hlen), file.f) != hlen) {
    set_err(err, err_len, path, "truncated .npy header");
    return -1;
  }
  std::string fdescr, why;
  bool fortran = false;
  std::vector<int64_t> fshape;
  if (!parse_header(header, fdescr, fortran, fshape, why)) {
    set_err(err, err_len, path, why);
    return -1;
  }
  if (normalize_descr(fdescr) != normalize_descr(descr)) {
    set_err(err, err_len, path, "dtype '" + fdescr + "' does not match expected '" + descr + "'");
    return -1;
  }
  const long isz = descr_itemsize(fdescr);
  if (isz != elem_size) {
    set_err(err, err_len, path,
            "dtype '" + fdescr + "' has item size " + std::to_string(isz) + ", expected " + std::to_string(elem_size));
    return -1;
  }
  int64_t fcount = 1, count = 1, non_unit = 0;
  bool huge = false; /* a product past int64 (each dimension is at most 2^50): refused, not wrapped */
  for (int64_t v : fshape) {
    if (v > 1) ++non_unit;
    if (v == 0) fcount = 0;
    else if (fcount > INT64_MAX / v) huge = true;
    else fcount *= v;
  }
  if (huge && fcount != 0) {
    set_err(err, err_len, path, "shape " + shape_str(fshape) + " has more elements than a file can hold");
    return -1;
  }
  for (int32_t d = 0; d < rank; ++d) count *= shape[d];
  if (fortran && non_unit > 1) {
    set_err(err, err_len, path, "Fortran-ordered arrays are not supported (save with C order)");
    return -1;
  }
  if (fcount != count) {
    set_err(err, err_len, path,
            "shape " + shape_str(fshape) + " has " + std::to_string(fcount) + " elements, expected " +
                std::to_string(count) + " (shape " + shape_str(shape, rank) + ")");
    return -1;
  }
  const size_t bytes = static_cast<size_t>(count * elem_size);
  if (bytes) {
    const size_t got = std::fread(dst, 1, bytes, file.f);
    if (got != bytes) {
      set_err(err, err_len, path,
              "truncated data: expected " + std::to_string(bytes) + " bytes, found " + std::to_string(got));
      return -1;
    }
  }
  return 0;
}

extern "C" int o2c_npy_write(const char *path, const char *descr, const int64_t *shape, int32_t rank,
                             const void *src, int64_t elem_size) {
  if (!path || !descr || rank < 0 || (rank > 0 && !shape) || elem_size <= 0) return -1;
  int64_t count = 1;
  for (int32_t d = 0; d < rank; ++d) {
    if (shape[d] < 0) return -1;
    count *= shape[d];
  }
  std::string dict = std::string("{'descr': '") + descr + "', 'fortran_order': False, 'shape': " +
                     shape_str(shape, rank) + ", }";
  /* version 1.0 unless the header needs more than 65535 bytes; total header size is a
   * multiple of 64 and ends with '\n' */
  int major = 1;
  size_t pre = 10;
  size_t total = round_up(static_cast<int64_t>(pre + dict.size() + 1), 64);
  if (total - pre > 65535) {
    major = 2;
    pre = 12;
    total = round_up(static_cast<int64_t>(pre + dict.size() + 1), 64);
  }
  const size_t hlen = total - pre;
  dict.append(hlen - dict.size() - 1, ' ');
  dict.push_back('\n');
  std::string head("\x93NUMPY", 6);
  head.push_back(static_cast<char>(major));
  head.push_back('\0');
  if (major == 1) {
    head.push_back(static_cast<char>(hlen & 0xff));
    head.push_back(static_cast<char>((hlen >> 8) & 0xff));
  } else {
    for (int s = 0; s < 4; ++s) head.push_back(static_cast<char>((hlen >> (8 * s)) & 0xff));
  }
  head += dict;
  File file;
  file.f = std::fopen(path, "wb");
  if (!file.f) return -1;
  if (std::fwrite(head.data(), 1, head.size(), file.f) != head.size()) return -1;
  const size_t bytes = static_cast<size_t>(count * elem_size);
  if (bytes && std::fwrite(src, 1, bytes, file.f) != bytes) return -1;
  const int rc = std::fclose(file.f);
  file.f = nullptr;
  return rc == 0 ? 0 : -1;
}
