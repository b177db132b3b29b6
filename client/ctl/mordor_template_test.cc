// The {{ name }} step of a mordor daemons.yaml: values replaced, anything
// else Jinja2 would see is an error naming file:line.
#include "client/ctl/mordor_template.h"

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace appkit::ctl {
namespace {

TemplateContext Context() {
  TemplateContext context;
  context["app_name"] = std::string("shop");
  context["log_dir"] = std::string("/env/logs/shop");
  context["stage"] = absl::NotFoundError("the stage comes from /env/configs/shop/deployment.json");
  return context;
}

std::string ErrorOf(const std::string& text) {
  auto rendered = RenderTemplate("d.yaml", text, Context());
  EXPECT_FALSE(rendered.ok()) << text;
  return rendered.ok() ? "" : std::string(rendered.status().message());
}

TEST(MordorTemplateTest, NamesOfTheContextAreReplacedSpacesOptional) {
  auto rendered = RenderTemplate(
      "d.yaml", "a: {{ app_name }}\nb: \"{{log_dir}}/x {{  app_name  }}\"\nc: }} { {x} }\n",
      Context());
  ASSERT_TRUE(rendered.ok()) << rendered.status();
  EXPECT_EQ(*rendered, "a: shop\nb: \"/env/logs/shop/x shop\"\nc: }} { {x} }\n");
  // Whitespace inside the braces may span lines, as in Jinja2.
  EXPECT_EQ(*RenderTemplate("d.yaml", "a: {{\n app_name\n}}\n", Context()), "a: shop\n");
}

TEST(MordorTemplateTest, OtherConstructsAreErrorsNamingFileAndLine) {
  struct Case {
    std::string text;
    std::string expected;  // part of the error
  };
  const std::vector<Case> cases = {
      {"a: 1\nb: {% if x %}y{% endif %}\n", "d.yaml:2: the template statement '{% if x %}'"},
      {"a: 1\n\nc: {# note #}\n", "d.yaml:3: the template comment '{# note #}'"},
      {"a: {{ app_name | upper }}\n", "d.yaml:1: the filter in '{{ app_name | upper }}'"},
      {"a: {{ app_name.x }}\n", "'{{ app_name.x }}' is not a plain name"},
      {"a: {{ 'x' }}\n", "'{{ 'x' }}' is not a plain name"},
      {"a: {{- app_name -}}\n", "whitespace control in '{{- app_name -}}'"},
      {"a: 1\nb: {{ app_name\n", "d.yaml:2: '{{ app_name\\n' is not closed with }}"},
      {"a: {{ daemon_name }}\n",
       "d.yaml:1: '{{ daemon_name }}' names 'daemon_name', which is not in mordor's context "
       "(app_name, log_dir, stage)"},
      {"a: {{\n app_name }}\nb: {{ nope }}\n", "d.yaml:3: '{{ nope }}'"},
      {"a: {{ stage }}\n",
       "d.yaml:1: '{{ stage }}': the stage comes from /env/configs/shop/deployment.json"},
  };
  for (const Case& c : cases) {
    const std::string error = ErrorOf(c.text);
    EXPECT_TRUE(absl::StrContains(error, c.expected)) << c.text << "\n" << error;
  }
}

TEST(MordorTemplateTest, AValueNotUsedNeedNotBeAvailable) {
  // stage cannot be read, and the file does not use it: fine.
  auto rendered = RenderTemplate("d.yaml", "a: {{ app_name }}\n", Context());
  ASSERT_TRUE(rendered.ok()) << rendered.status();
}

}  // namespace
}  // namespace appkit::ctl
