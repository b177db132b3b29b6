// The template step of a mordor daemons.yaml: mordor renders the file with
// Jinja2 before it reads it as YAML. appkitctl renders the one construct a
// daemons.yaml needs, a value of mordor's context:
//
//   args:
//     data: "{{ data_dir }}/cache"      # spaces inside the braces optional
//
// Everything else Jinja2 would see is an error naming file:line and the
// construct: a statement `{% ... %}`, a comment `{# ... #}`, a filter
// `{{ x | upper }}`, an expression `{{ a.b }}` or `{{ 'x' }}`, whitespace
// control `{{- x -}}`, an unclosed `{{`, and a name that is not in the
// context (Jinja2 would render it as nothing; here it is a mistake said).
#ifndef APPKIT_CLIENT_CTL_MORDOR_TEMPLATE_H_
#define APPKIT_CLIENT_CTL_MORDOR_TEMPLATE_H_

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace appkit::ctl {

// Name -> value, or why the value is not available (used only when the
// file names it: a missing $ENV_HOME or deployment.json is an error only
// for a file that needs it).
using TemplateContext = std::map<std::string, absl::StatusOr<std::string>>;

// `text` (the file at `path`) with every `{{ name }}` replaced.
absl::StatusOr<std::string> RenderTemplate(const std::string& path, const std::string& text,
                                           const TemplateContext& context);

}  // namespace appkit::ctl

#endif  // APPKIT_CLIENT_CTL_MORDOR_TEMPLATE_H_
