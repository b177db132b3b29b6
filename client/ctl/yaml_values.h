// daemons.yaml's values as mordor reads them, turned into JSON.
//
// mordor reads the file with PyYAML's safe_load (YAML 1.1 rules), so a
// plain (unquoted, untagged) scalar is, exactly as PyYAML's resolver says:
//   null     ~  null Null NULL  (and nothing at all)
//   bool     yes no true false on off, each as yes/Yes/YES (not y or n)
//   int      0 or 1_000 (decimal, '_' ignored), 0b101, 017 (octal), 0x1F,
//            1:30 (sexagesimal: 90); never 0o17 (a string)
//   float    1.5, 1., .5, 1.0e+3 (the exponent needs its sign: 1e3 is a
//            string), 1:30.5 (90.5), .inf -.inf +.inf, .nan
//   anything else, dates included (2001-12-14), is a string, as written.
// Quoted and block scalars are strings; explicit tags !!str !!int !!float
// !!bool !!null !!timestamp convert as PyYAML's SafeLoader does; any other
// tag is refused, as safe_load refuses it. Merge keys (`<<: *base`, or a
// list of aliases) merge as in PyYAML: the mapping's own keys win, and of
// several merged mappings the earlier one wins. An int beyond 64 bits
// becomes the nearest double (JSON numbers are doubles for the entry
// anyway); .inf and .nan have no JSON form and are refused in args.
//
// Everything here is bounded for a hostile file (see the constants).
#ifndef APPKIT_CLIENT_CTL_YAML_VALUES_H_
#define APPKIT_CLIENT_CTL_YAML_VALUES_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"
#include "yaml-cpp/yaml.h"

namespace appkit::ctl {

// Values (scalars, lists, maps) in a document, and after expanding its
// aliases and merge keys (yaml-cpp shares an aliased node; converting it
// to JSON copies it, so nine aliases of nine aliases of ... are a billion
// values).
inline constexpr size_t kMaxYamlValues = 100000;
// Bytes of scalars after expanding aliases.
inline constexpr size_t kMaxExpandedBytes = 16 << 20;

// What converting a document may still spend: one budget per file.
struct YamlBudget {
  size_t values = kMaxYamlValues;
  size_t bytes = kMaxExpandedBytes;
};

// "path:line" of a node or mark (lines from 1).
std::string Where(const std::string& path, const YAML::Mark& mark);
std::string Where(const std::string& path, const YAML::Node& node);

// The tree of `text` (the file at `path`, already rendered), once its
// values are counted: more than kMaxYamlValues, or nesting past
// yaml-cpp's depth guard, is an error naming path:line.
absl::StatusOr<YAML::Node> ParseYamlDocument(const std::string& path, const std::string& text);

// The bounds above, checked on the file as written, before it is rendered
// as a template (rendering only ever replaces a {{ name }} by a scalar, so
// it cannot make a file deeper or larger in values): an error only for
// too many values or too deep a nesting; other syntax is judged once
// rendered.
absl::Status CheckYamlBounds(const std::string& path, const std::string& text);

// A plain scalar's text as PyYAML resolves and constructs it. Non-finite
// floats are returned as such. Error (without a location): an int
// PyYAML cannot construct either ("0x_").
absl::StatusOr<nlohmann::json> ResolvePlainScalar(std::string_view text);

// A scalar or null node as JSON, by its tag (see above).
absl::StatusOr<nlohmann::json> ScalarToJson(const std::string& path, const YAML::Node& node);

// A mapping's entries with merge keys applied, in the order to assign them
// (a later one replaces an earlier one with the same key).
using YamlEntries = std::vector<std::pair<YAML::Node, YAML::Node>>;
absl::StatusOr<YamlEntries> FlattenMapping(const std::string& path, const YAML::Node& map,
                                           YamlBudget& budget);

// `node` as JSON within `budget`, mappings and lists nested at most
// `max_depth` levels (`depth` is this node's level). Mapping keys must be
// scalars and become their text.
absl::StatusOr<nlohmann::json> YamlToJson(const std::string& path, const YAML::Node& node,
                                          int depth, int max_depth, YamlBudget& budget);

}  // namespace appkit::ctl

#endif  // APPKIT_CLIENT_CTL_YAML_VALUES_H_
