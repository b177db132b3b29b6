#include "client/ctl/mordor_template.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/host/option_checks.h"

namespace appkit::ctl {
namespace {

// A construct as shown in an error: escaped, and cut when long.
std::string Shown(absl::string_view construct) {
  constexpr size_t kShown = 60;
  if (construct.size() <= kShown) return internal::EscapeBytes(std::string(construct));
  return absl::StrCat(internal::EscapeBytes(std::string(construct.substr(0, kShown))), "...");
}

bool IsName(absl::string_view text) {
  if (text.empty() || !(absl::ascii_isalpha(text[0]) || text[0] == '_')) return false;
  return std::all_of(text.begin(), text.end(),
                     [](char c) { return absl::ascii_isalnum(c) || c == '_'; });
}

std::string Known(const TemplateContext& context) {
  std::vector<std::string> names;
  for (const auto& [name, value] : context) names.push_back(name);
  return absl::StrJoin(names, ", ");
}

}  // namespace

absl::StatusOr<std::string> RenderTemplate(const std::string& path, const std::string& text,
                                           const TemplateContext& context) {
  std::string out;
  out.reserve(text.size());
  int line = 1;
  auto error = [&](const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(path, ":", line, ": ", why));
  };
  const std::string only =
      "a daemons.yaml may use only {{ name }} with a name of mordor's "
      "context (" +
      Known(context) + ")";
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c != '{' || i + 1 >= text.size() ||
        (text[i + 1] != '{' && text[i + 1] != '%' && text[i + 1] != '#')) {
      if (c == '\n') ++line;
      out += c;
      ++i;
      continue;
    }
    const char kind = text[i + 1];
    const char* close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
    const size_t end = text.find(close, i + 2);
    const absl::string_view construct =
        absl::string_view(text).substr(i, end == std::string::npos ? 40 : end + 2 - i);
    if (kind == '%') {
      return error(
          absl::StrCat("the template statement '", Shown(construct), "' is not supported: ", only));
    }
    if (kind == '#') {
      return error(absl::StrCat("the template comment '", Shown(construct),
                                "' is not supported (use a YAML # comment): ", only));
    }
    if (end == std::string::npos) {
      return error(absl::StrCat("'", Shown(construct), "' is not closed with }}"));
    }
    const absl::string_view inner =
        absl::StripAsciiWhitespace(absl::string_view(text).substr(i + 2, end - i - 2));
    if (!inner.empty() && (inner.front() == '-' || inner.front() == '+' || inner.back() == '-' ||
                           inner.back() == '+')) {
      return error(
          absl::StrCat("whitespace control in '", Shown(construct), "' is not supported: ", only));
    }
    if (inner.find('|') != absl::string_view::npos) {
      return error(absl::StrCat("the filter in '", Shown(construct), "' is not supported: ", only));
    }
    if (!IsName(inner)) {
      return error(absl::StrCat("'", Shown(construct), "' is not a plain name: ", only));
    }
    auto value = context.find(std::string(inner));
    if (value == context.end()) {
      return error(absl::StrCat("'", Shown(construct), "' names '", inner,
                                "', which is not in mordor's context (", Known(context), ")"));
    }
    if (!value->second.ok()) {
      return error(absl::StrCat("'", Shown(construct), "': ", value->second.status().message()));
    }
    out += *value->second;
    line += static_cast<int>(std::count(text.begin() + i, text.begin() + end, '\n'));
    i = end + 2;
  }
  return out;
}

}  // namespace appkit::ctl
