#include "client/ctl/yaml_values.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "yaml-cpp/depthguard.h"
#include "yaml-cpp/eventhandler.h"

namespace appkit::ctl {
namespace {

using Json = nlohmann::json;

constexpr char kTagPrefix[] = "tag:yaml.org,2002:";

// Thrown out of yaml-cpp's event parser when the document has too many
// values: counted before yaml-cpp builds its tree (about 500 bytes a value).
struct TooManyValues {
  YAML::Mark mark;
};

class ValueCounter : public YAML::EventHandler {
 public:
  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { Count(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { Count(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Count(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Count(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Count(mark);
  }
  void OnMapEnd() override {}

 private:
  void Count(const YAML::Mark& mark) {
    if (++count_ > kMaxYamlValues) throw TooManyValues{mark};
  }
  size_t count_ = 0;
};

// PyYAML's implicit resolvers (yaml/resolver.py), as written there.
const std::regex& FloatPattern() {
  static const std::regex pattern(R"(^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?)"
                                  R"(|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?)"
                                  R"(|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*)"
                                  R"(|[-+]?\.(?:inf|Inf|INF))"
                                  R"(|\.(?:nan|NaN|NAN))$)");
  return pattern;
}

const std::regex& IntPattern() {
  static const std::regex pattern(R"(^(?:[-+]?0b[0-1_]+)"
                                  R"(|[-+]?0[0-7_]+)"
                                  R"(|[-+]?(?:0|[1-9][0-9_]*))"
                                  R"(|[-+]?0x[0-9a-fA-F_]+)"
                                  R"(|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$)");
  return pattern;
}

bool IsBool(std::string_view text, bool* value) {
  static const std::set<std::string_view> truths = {"yes",  "Yes", "YES", "true", "True",
                                                    "TRUE", "on",  "On",  "ON"};
  static const std::set<std::string_view> lies = {"no",    "No",  "NO",  "false", "False",
                                                  "FALSE", "off", "Off", "OFF"};
  if (truths.count(text)) return *value = true;
  if (lies.count(text)) return !(*value = false);
  return false;
}

bool IsNull(std::string_view text) {
  return text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL";
}

// An integer being accumulated: exact while it fits, else a double.
class Accumulator {
 public:
  explicit Accumulator(unsigned digit = 0) : exact_(digit), approx_(digit) {}

  // *this = *this * scale + part
  void MulAdd(unsigned scale, const Accumulator& part) {
    approx_ = approx_ * scale + part.approx_;
    if (overflow_ || part.overflow_ || exact_ > (kLimit - part.exact_) / scale) {
      overflow_ = true;
    } else {
      exact_ = exact_ * scale + part.exact_;
    }
  }

  Json Signed(bool negative) const {
    const unsigned __int128 max =
        static_cast<unsigned __int128>(std::numeric_limits<int64_t>::max()) + (negative ? 1 : 0);
    if (!overflow_ && exact_ <= max) {
      return negative ? static_cast<int64_t>(-static_cast<__int128>(exact_))
                      : static_cast<int64_t>(exact_);
    }
    return static_cast<double>(negative ? -approx_ : approx_);
  }

 private:
  static constexpr unsigned __int128 kLimit = ~static_cast<unsigned __int128>(0) >> 1;
  unsigned __int128 exact_ = 0;
  long double approx_ = 0;  // 64-bit mantissa: exact to 2^64, then rounded once
  bool overflow_ = false;
};

int DigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return 99;
}

std::optional<Accumulator> ParseDigits(std::string_view digits, int base) {
  if (digits.empty()) return std::nullopt;
  Accumulator value;
  for (char c : digits) {
    int digit = DigitValue(c);
    if (digit >= base) return std::nullopt;
    value.MulAdd(base, Accumulator(static_cast<unsigned>(digit)));
  }
  return value;
}

// PyYAML's construct_yaml_int on `text`.
absl::StatusOr<Json> ConstructInt(std::string_view text) {
  std::string value;
  for (char c : text) {
    if (c != '_') value += c;
  }
  bool negative = false;
  if (!value.empty() && (value[0] == '-' || value[0] == '+')) {
    negative = value[0] == '-';
    value.erase(0, 1);
  }
  std::optional<Accumulator> number;
  if (value == "0") {
    return 0;
  } else if (value.rfind("0b", 0) == 0) {
    number = ParseDigits(std::string_view(value).substr(2), 2);
  } else if (value.rfind("0x", 0) == 0) {
    number = ParseDigits(std::string_view(value).substr(2), 16);
  } else if (!value.empty() && value[0] == '0') {
    number = ParseDigits(value, 8);
  } else if (value.find(':') != std::string::npos) {
    // Base 60, most significant part first: 1:30 is 90.
    Accumulator total;
    for (absl::string_view part : absl::StrSplit(value, ':')) {
      std::optional<Accumulator> digits =
          ParseDigits(std::string_view(part.data(), part.size()), 10);
      if (!digits) return absl::InvalidArgumentError("not an integer");
      total.MulAdd(60, *digits);
    }
    number = total;
  } else {
    number = ParseDigits(value, 10);
  }
  if (!number) return absl::InvalidArgumentError("not an integer");
  return number->Signed(negative);
}

// PyYAML's construct_yaml_float on `text`.
absl::StatusOr<Json> ConstructFloat(std::string_view text) {
  std::string value;
  for (char c : text) {
    if (c != '_') value += absl::ascii_tolower(static_cast<unsigned char>(c));
  }
  double sign = 1;
  if (!value.empty() && (value[0] == '-' || value[0] == '+')) {
    if (value[0] == '-') sign = -1;
    value.erase(0, 1);
  }
  if (value == ".inf") return sign * std::numeric_limits<double>::infinity();
  if (value == ".nan") return std::numeric_limits<double>::quiet_NaN();
  auto to_double = [](const std::string& part, double* out) {
    char* end = nullptr;
    *out = strtod(part.c_str(), &end);
    return !part.empty() && end == part.c_str() + part.size();
  };
  double result = 0;
  if (value.find(':') != std::string::npos) {
    double base = 1;
    std::vector<std::string> parts = absl::StrSplit(value, ':');
    for (auto part = parts.rbegin(); part != parts.rend(); ++part) {
      double digit = 0;
      if (!to_double(*part, &digit)) return absl::InvalidArgumentError("not a float");
      result += digit * base;
      base *= 60;
    }
  } else if (!to_double(value, &result)) {
    return absl::InvalidArgumentError("not a float");
  }
  return sign * result;
}

absl::Status NotAllowed(const std::string& path, const YAML::Node& node, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(Where(path, node), ": ", why));
}

bool IsMergeKey(const YAML::Node& key) {
  return key.IsScalar() && key.Tag() == "?" && key.Scalar() == "<<";
}

absl::Status AppendFlattened(const std::string& path, const YAML::Node& map, YamlBudget& budget,
                             int depth, YamlEntries& out) {
  if (depth > 64) return NotAllowed(path, map, "merge keys (<<) nest too deep");
  YamlEntries merged;
  YamlEntries own;
  for (const auto& item : map) {
    if (budget.values == 0) {
      return NotAllowed(path, item.first,
                        absl::StrCat("more than ", kMaxYamlValues,
                                     " values once aliases and merge keys "
                                     "are expanded (a YAML alias bomb?): the "
                                     "file is refused"));
    }
    --budget.values;
    if (!IsMergeKey(item.first)) {
      own.emplace_back(item.first, item.second);
      continue;
    }
    const YAML::Node& value = item.second;
    std::vector<YAML::Node> sources;
    if (value.IsMap()) {
      sources.push_back(value);
    } else if (value.IsSequence()) {
      for (const auto& source : value) {
        if (!source.IsMap()) {
          return NotAllowed(path, source, "a merge key (<<) takes mappings only");
        }
        sources.push_back(source);
      }
    } else {
      return NotAllowed(path, value, "a merge key (<<) takes a mapping or a list of mappings");
    }
    // Of several merged mappings the earlier wins: assign it last.
    for (auto source = sources.rbegin(); source != sources.rend(); ++source) {
      if (absl::Status status = AppendFlattened(path, *source, budget, depth + 1, merged);
          !status.ok()) {
        return status;
      }
    }
  }
  out.insert(out.end(), merged.begin(), merged.end());
  out.insert(out.end(), own.begin(), own.end());
  return absl::OkStatus();
}

absl::Status TooMuchText(const std::string& path, const YAML::Node& node) {
  return NotAllowed(path, node,
                    absl::StrCat("args expand to more than ", kMaxExpandedBytes >> 20,
                                 " MiB of text (a YAML alias bomb?): the file is "
                                 "refused"));
}

}  // namespace

std::string Where(const std::string& path, const YAML::Mark& mark) {
  return absl::StrCat(path, ":", mark.line + 1);
}

std::string Where(const std::string& path, const YAML::Node& node) {
  return Where(path, node.Mark());
}

namespace {

absl::Status TooDeep(const std::string& path, const YAML::DeepRecursion& e) {
  return absl::InvalidArgumentError(
      absl::StrCat(path, ":", e.mark.line + 1, ": nested too deep for the YAML parser (more than ",
                   e.depth(), " levels): the file is refused"));
}

}  // namespace

absl::StatusOr<YAML::Node> ParseYamlDocument(const std::string& path, const std::string& text) {
  if (absl::Status bounds = CheckYamlBounds(path, text); !bounds.ok()) return bounds;
  try {
    return YAML::Load(text);
  } catch (const YAML::DeepRecursion& e) {
    return TooDeep(path, e);
  } catch (const YAML::Exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ":", e.mark.line + 1, ": not valid YAML: ", e.msg));
  }
}

absl::Status CheckYamlBounds(const std::string& path, const std::string& text) {
  try {
    std::istringstream stream(text);
    YAML::Parser parser(stream);
    ValueCounter counter;
    parser.HandleNextDocument(counter);
  } catch (const TooManyValues& e) {
    return absl::InvalidArgumentError(absl::StrCat(Where(path, e.mark), ": more than ",
                                                   kMaxYamlValues, " values: the file is refused"));
  } catch (const YAML::DeepRecursion& e) {
    return TooDeep(path, e);
  } catch (const YAML::Exception&) {
    // Not YAML as written (a template construct may be why): judged once
    // rendered (ParseYamlDocument says why).
  }
  return absl::OkStatus();
}

absl::StatusOr<Json> ResolvePlainScalar(std::string_view text) {
  if (IsNull(text)) return nullptr;
  bool truth = false;
  if (IsBool(text, &truth)) return truth;
  const std::string owned(text);
  if (std::regex_match(owned, FloatPattern())) return ConstructFloat(text);
  if (std::regex_match(owned, IntPattern())) return ConstructInt(text);
  return owned;
}

absl::StatusOr<Json> ScalarToJson(const std::string& path, const YAML::Node& node) {
  if (node.IsNull()) return nullptr;
  const std::string& text = node.Scalar();
  const std::string& tag = node.Tag();
  if (tag == "!") return text;  // quoted, literal or folded: a string
  if (tag == "?" || tag.empty()) {
    auto value = ResolvePlainScalar(text);
    if (!value.ok()) {
      return NotAllowed(path, node,
                        absl::StrCat("'", text,
                                     "' reads as an integer but is not "
                                     "one (PyYAML fails on it too)"));
    }
    return value;
  }
  const std::string name = tag.rfind(kTagPrefix, 0) == 0 ? tag.substr(sizeof(kTagPrefix) - 1) : "";
  if (name == "str" || name == "timestamp") return text;
  if (name == "null") return nullptr;
  if (name == "bool") {
    const std::string lower = absl::AsciiStrToLower(text);
    bool truth = false;
    if (IsBool(lower, &truth)) return truth;
  } else if (name == "int") {
    if (auto value = ConstructInt(text); value.ok()) return value;
  } else if (name == "float") {
    if (auto value = ConstructFloat(text); value.ok()) return value;
  } else {
    return NotAllowed(path, node,
                      absl::StrCat("the tag '", tag,
                                   "' is not allowed (PyYAML's "
                                   "safe_load refuses it, or it has no JSON form)"));
  }
  return NotAllowed(path, node, absl::StrCat("'", text, "' is not a valid !!", name));
}

absl::StatusOr<YamlEntries> FlattenMapping(const std::string& path, const YAML::Node& map,
                                           YamlBudget& budget) {
  YamlEntries entries;
  if (absl::Status status = AppendFlattened(path, map, budget, 0, entries); !status.ok()) {
    return status;
  }
  return entries;
}

absl::StatusOr<Json> YamlToJson(const std::string& path, const YAML::Node& node, int depth,
                                int max_depth, YamlBudget& budget) {
  if (budget.values == 0) {
    return NotAllowed(path, node,
                      absl::StrCat("args expand to more than ", kMaxYamlValues,
                                   " values (a YAML alias bomb?): the file is "
                                   "refused"));
  }
  --budget.values;
  if ((node.IsMap() || node.IsSequence()) && depth > max_depth) {
    return NotAllowed(
        path, node,
        absl::StrCat("args nest deeper than ", max_depth, " levels of mappings and lists"));
  }
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      auto entries = FlattenMapping(path, node, budget);
      if (!entries.ok()) return entries.status();
      Json object = Json::object();
      for (const auto& [key_node, value_node] : *entries) {
        if (!key_node.IsScalar()) {
          return NotAllowed(path, key_node, "args: a key must be a plain string");
        }
        const std::string& key = key_node.Scalar();
        if (key.size() > budget.bytes) return TooMuchText(path, key_node);
        budget.bytes -= key.size();
        auto value = YamlToJson(path, value_node, depth + 1, max_depth, budget);
        if (!value.ok()) return value.status();
        object[key] = std::move(*value);
      }
      return object;
    }
    case YAML::NodeType::Sequence: {
      Json array = Json::array();
      for (const auto& item : node) {
        auto value = YamlToJson(path, item, depth + 1, max_depth, budget);
        if (!value.ok()) return value.status();
        array.push_back(std::move(*value));
      }
      return array;
    }
    case YAML::NodeType::Scalar: {
      if (node.Scalar().size() > budget.bytes) return TooMuchText(path, node);
      budget.bytes -= node.Scalar().size();
      auto value = ScalarToJson(path, node);
      if (value.ok() && value->is_number_float() && !std::isfinite(value->get<double>())) {
        return NotAllowed(path, node,
                          absl::StrCat("'", node.Scalar(),
                                       "' is not a finite number: args travel as "
                                       "JSON, which has no such number"));
      }
      return value;
    }
    default:
      return nullptr;
  }
}

}  // namespace appkit::ctl
