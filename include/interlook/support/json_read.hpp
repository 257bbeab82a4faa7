#pragma once
// Reading Boost.JSON values with errors that name where the bad value is
// ("services.web.service.targets[1].port: expected an unsigned integer").

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <boost/json/value.hpp>

#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <string_view>

namespace interlook {

class json_error : public std::runtime_error {
 public:
  json_error(std::string path, const std::string& what)
      : std::runtime_error(path.empty() ? what : path + ": " + what), path_(std::move(path)) {}
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

namespace json_read {

inline std::string join(std::string_view path, std::string_view key) {
  if (path.empty()) return std::string(key);
  std::string out(path);
  out += '.';
  out += key;
  return out;
}

inline std::string index(std::string_view path, std::size_t i) {
  return std::string(path) + "[" + std::to_string(i) + "]";
}

inline const boost::json::object& object(const boost::json::value& v, std::string_view path) {
  if (!v.is_object()) throw json_error(std::string(path), "expected an object");
  return v.get_object();
}

inline const boost::json::array& array(const boost::json::value& v, std::string_view path) {
  if (!v.is_array()) throw json_error(std::string(path), "expected an array");
  return v.get_array();
}

// Missing keys and JSON null both read as "absent", as Go's decoder treats them.
inline const boost::json::value* find(const boost::json::object& o, std::string_view key) {
  auto it = o.find(key);
  if (it == o.end() || it->value().is_null()) return nullptr;
  return &it->value();
}

inline std::string string(const boost::json::object& o, std::string_view key, std::string_view path) {
  const auto* v = find(o, key);
  if (!v) return {};
  if (!v->is_string()) throw json_error(join(path, key), "expected a string");
  return std::string(v->get_string());
}

inline bool boolean(const boost::json::object& o, std::string_view key, std::string_view path) {
  const auto* v = find(o, key);
  if (!v) return false;
  if (!v->is_bool()) throw json_error(join(path, key), "expected true or false");
  return v->get_bool();
}

template <class Unsigned>
Unsigned unsigned_number(const boost::json::object& o, std::string_view key, std::string_view path,
                         Unsigned fallback) {
  const auto* v = find(o, key);
  if (!v) return fallback;
  std::uint64_t n;
  if (v->is_uint64()) {
    n = v->get_uint64();
  } else if (v->is_int64() && v->get_int64() >= 0) {
    n = static_cast<std::uint64_t>(v->get_int64());
  } else {
    throw json_error(join(path, key), "expected an unsigned integer");
  }
  if (n > std::numeric_limits<Unsigned>::max())
    throw json_error(join(path, key), "value " + std::to_string(n) + " is out of range");
  return static_cast<Unsigned>(n);
}

}  // namespace json_read
}  // namespace interlook
