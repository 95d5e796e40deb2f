// elf_symbols.h - reads the dynamic symbol table of a shared object file (without loading it):
// which DASH_* symbols an app leaves undefined (the APIs it calls) and which implementations a
// kernel library defines.
#ifndef CEDR_ELF_SYMBOLS_H
#define CEDR_ELF_SYMBOLS_H

#include <string>
#include <vector>

namespace cedr {

struct ElfSymbols {
  std::vector<std::string> undefined;  // referenced, not defined here
  std::vector<std::string> defined;    // global/weak symbols defined here
};

// InputError("<what> '<path>': ...") when the file is missing, is not an ELF shared object for
// this machine, or has no readable dynamic symbol table. `what` is "app" or "library".
ElfSymbols read_elf_symbols(const std::string &path, const std::string &what);

}  // namespace cedr

#endif  // CEDR_ELF_SYMBOLS_H
