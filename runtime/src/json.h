// json.h - a small JSON reader/writer for configs, task sets and summaries. Objects keep their
// keys in file order; every value remembers the line it starts on, for error messages.
#ifndef CEDR_JSON_H
#define CEDR_JSON_H

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace cedr::json {

struct ParseError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Value {
  enum Kind { Null, Bool, Number, String, Array, Object } kind = Null;
  bool b = false;
  double num = 0;
  std::string str;
  std::vector<Value> arr;
  std::vector<std::pair<std::string, Value>> obj;  // file order; duplicate keys are a parse error
  int line = 1;

  bool is_null() const { return kind == Null; }
  bool is_bool() const { return kind == Bool; }
  bool is_number() const { return kind == Number; }
  bool is_string() const { return kind == String; }
  bool is_array() const { return kind == Array; }
  bool is_object() const { return kind == Object; }
  // Member lookup; nullptr when absent or when this is not an object.
  const Value *get(const std::string &key) const;
  // "object", "number", ... (for messages such as "expected a number, got a string")
  const char *kind_name() const;
};

// Parses a whole document. Errors: ParseError("line L: <what>").
Value parse(const std::string &text);
// Reads and parses a file. Errors: ParseError("<path>: cannot read" / "<path>: line L: <what>").
Value parse_file(const std::string &path);

// A JSON string literal (quotes and escapes included).
std::string quote(const std::string &s);
// A JSON number: integers print without a fraction, others with up to 17 significant digits;
// NaN and infinities print as null.
std::string number(double v);

}  // namespace cedr::json

#endif  // CEDR_JSON_H
