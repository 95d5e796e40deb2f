// libraries.h - the kernel libraries (--lib, then "DASH Binary Paths"): loaded with dlopen, their
// implementations <API>_<prec>_<type> looked up last-to-first (a later library overrides an
// earlier one).
#ifndef CEDR_LIBRARIES_H
#define CEDR_LIBRARIES_H

#include <set>
#include <string>
#include <utility>
#include <vector>

namespace cedr {

class Libraries {
 public:
  Libraries() = default;
  Libraries(const Libraries &) = delete;
  Libraries &operator=(const Libraries &) = delete;
  ~Libraries();  // libraries stay loaded for the process lifetime (apps may hold pointers into them)

  // InputError when the file is missing, not a shared object, or cannot be loaded.
  void load(const std::string &path);
  bool empty() const { return libs_.empty(); }
  // dlsym over the loaded libraries, last loaded first; nullptr when none defines it.
  void *find(const std::string &symbol) const;
  // `companion` from the library find(symbol) takes `symbol` from (an implementation's estimator
  // must come with the implementation, not from another library); nullptr when that library has
  // none or no library defines `symbol`.
  void *find_companion(const std::string &symbol, const std::string &companion) const;
  // (api, prec) pairs with an implementation "<api>_<prec>_<type>" defined in some library.
  std::set<std::pair<std::string, std::string>> apis_for_type(const std::string &type) const;

 private:
  struct Lib {
    std::string path;
    void *handle = nullptr;
    std::vector<std::string> dash_symbols;  // defined DASH_* names
  };
  std::vector<Lib> libs_;
};

// "DASH_FFT_flt_cpu" with type "cpu" -> ("DASH_FFT", "flt"); false if the name does not fit.
bool split_impl_symbol(const std::string &symbol, const std::string &type, std::string &api, std::string &prec);

}  // namespace cedr

#endif  // CEDR_LIBRARIES_H
