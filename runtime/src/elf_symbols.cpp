// elf_symbols.cpp - .dynsym reader for 64-bit ELF files (the section headers' SHT_DYNSYM and the
// string table it links to). Every offset is checked against the file size.
#include "elf_symbols.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "common.h"

namespace cedr {

namespace {

struct Mapping {
  void *data = MAP_FAILED;
  size_t size = 0;
  ~Mapping() {
    if (data != MAP_FAILED) munmap(data, size);
  }
};

#if defined(__x86_64__)
constexpr int kMachine = EM_X86_64;
#elif defined(__aarch64__)
constexpr int kMachine = EM_AARCH64;
#else
constexpr int kMachine = -1;
#endif

}  // namespace

ElfSymbols read_elf_symbols(const std::string &path, const std::string &what) {
  const std::string who = what + " '" + path + "'";
  struct stat st;
  if (stat(path.c_str(), &st) != 0) throw InputError(who + ": no such file");
  if (!S_ISREG(st.st_mode)) throw InputError(who + " is not a regular file");
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw InputError(who + ": cannot open (" + std::strerror(errno) + ")");
  Mapping m;
  m.size = size_t(st.st_size);
  if (m.size >= sizeof(Elf64_Ehdr)) m.data = mmap(nullptr, m.size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  const auto *base = static_cast<const unsigned char *>(m.data);
  if (m.data == MAP_FAILED || std::memcmp(base, ELFMAG, SELFMAG) != 0)
    throw InputError(who + " is not a shared object (not an ELF file)");
  if (base[EI_CLASS] != ELFCLASS64) throw InputError(who + " is not a 64-bit shared object");
  Elf64_Ehdr eh;
  std::memcpy(&eh, base, sizeof eh);
  if (eh.e_type != ET_DYN) throw InputError(who + " is not a shared object (ELF type " + std::to_string(eh.e_type) + ")");
  if (kMachine >= 0 && eh.e_machine != kMachine) throw InputError(who + " is a shared object for another machine");

  auto in_file = [&](uint64_t off, uint64_t len) { return off <= m.size && len <= m.size - off; };
  if (eh.e_shentsize != sizeof(Elf64_Shdr) || !in_file(eh.e_shoff, uint64_t(eh.e_shnum) * sizeof(Elf64_Shdr)))
    throw InputError(who + " has no readable section headers");
  ElfSymbols out;
  bool found = false;
  for (unsigned i = 0; i < eh.e_shnum; ++i) {
    Elf64_Shdr sh;
    std::memcpy(&sh, base + eh.e_shoff + i * sizeof(Elf64_Shdr), sizeof sh);
    if (sh.sh_type != SHT_DYNSYM) continue;
    if (sh.sh_link >= eh.e_shnum || sh.sh_entsize != sizeof(Elf64_Sym) || !in_file(sh.sh_offset, sh.sh_size))
      throw InputError(who + " has a malformed dynamic symbol table");
    Elf64_Shdr strh;
    std::memcpy(&strh, base + eh.e_shoff + sh.sh_link * sizeof(Elf64_Shdr), sizeof strh);
    if (!in_file(strh.sh_offset, strh.sh_size)) throw InputError(who + " has a malformed dynamic string table");
    const char *strtab = reinterpret_cast<const char *>(base + strh.sh_offset);
    found = true;
    for (uint64_t k = 1; k < sh.sh_size / sizeof(Elf64_Sym); ++k) {
      Elf64_Sym sym;
      std::memcpy(&sym, base + sh.sh_offset + k * sizeof(Elf64_Sym), sizeof sym);
      if (sym.st_name == 0 || sym.st_name >= strh.sh_size) continue;
      const char *name = strtab + sym.st_name;
      size_t len = strnlen(name, strh.sh_size - sym.st_name);
      if (len == strh.sh_size - sym.st_name) continue;  // not terminated inside the table
      unsigned bind = ELF64_ST_BIND(sym.st_info);
      if (sym.st_shndx == SHN_UNDEF) {
        out.undefined.emplace_back(name, len);
      } else if (bind == STB_GLOBAL || bind == STB_WEAK) {
        unsigned vis = ELF64_ST_VISIBILITY(sym.st_other);
        if (vis == STV_DEFAULT || vis == STV_PROTECTED) out.defined.emplace_back(name, len);
      }
    }
  }
  if (!found) throw InputError(who + " has no dynamic symbol table");
  return out;
}

}  // namespace cedr
