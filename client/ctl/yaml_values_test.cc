// daemons.yaml values read as PyYAML's safe_load reads them (the table was
// checked against PyYAML 6.0: yaml.safe_load("x: " + text)["x"]).
#include "client/ctl/yaml_values.h"

#include <cmath>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace appkit::ctl {
namespace {

using Json = nlohmann::json;

// `text` as the value of a key, read and converted.
absl::StatusOr<Json> Read(const std::string& text) {
  auto document = ParseYamlDocument("f.yaml", "x: " + text + "\n");
  if (!document.ok()) return document.status();
  YamlBudget budget;
  auto json = YamlToJson("f.yaml", *document, 1, 32, budget);
  if (!json.ok()) return json.status();
  return (*json)["x"];
}

TEST(YamlValuesTest, PlainScalarsResolveAsPyYamlDoes) {
  const std::vector<std::pair<std::string, Json>> cases = {
      // bool: three casings of yes/no/true/false/on/off, nothing else
      {"yes", true},
      {"Yes", true},
      {"YES", true},
      {"no", false},
      {"No", false},
      {"NO", false},
      {"on", true},
      {"On", true},
      {"ON", true},
      {"off", false},
      {"Off", false},
      {"true", true},
      {"False", false},
      {"TRUE", true},
      {"yEs", "yEs"},
      {"y", "y"},
      {"Y", "Y"},
      {"n", "n"},
      {"oN", "oN"},
      {"tRUE", "tRUE"},
      // null
      {"~", nullptr},
      {"null", nullptr},
      {"Null", nullptr},
      {"NULL", nullptr},
      {"", nullptr},
      {"nULL", "nULL"},
      // int
      {"0", 0},
      {"-0", 0},
      {"+12", 12},
      {"1_000", 1000},
      {"1__2", 12},
      {"0x1F", 31},
      {"-0x10", -16},
      {"0b101", 5},
      {"017", 15},
      {"0_", 0},
      {"1:30", 90},
      {"-1:30", -90},
      {"190:20:30", 685230},
      {"12:30:45", 45045},
      {"0o17", "0o17"},
      {"09", "09"},
      {"1:60", "1:60"},
      {"_1", "_1"},
      {"0x", "0x"},
      {"0b", "0b"},
      {"9223372036854775807", 9223372036854775807LL},
      {"-9223372036854775808", std::numeric_limits<int64_t>::min()},
      {"99999999999999999999", 1e20},
      // float
      {"1.5", 1.5},
      {"1.", 1.0},
      {"0.", 0.0},
      {".5", 0.5},
      {"08.5", 8.5},
      {"1_0.0_1", 10.01},
      {"1.0e+3", 1000.0},
      {"6.8523015e+5", 685230.15},
      {"685.230_15e+03", 685230.15},
      {"1:30.5", 90.5},
      {"1e3", "1e3"},
      {"1.0e3", "1.0e3"},
      {"1E+3", "1E+3"},
      {"-.5", "-.5"},
      {"+.5", "+.5"},
      {".", "."},
      {"-.nan", "-.nan"},
      {"1e400", "1e400"},
      // everything else is a string as written: dates too
      {"2001-12-14", "2001-12-14"},
      {"2001-12-14t21:59:43.10-05:00", "2001-12-14t21:59:43.10-05:00"},
      {"hello world", "hello world"},
  };
  for (const auto& [text, expected] : cases) {
    auto value = Read(text);
    ASSERT_TRUE(value.ok()) << text << ": " << value.status();
    EXPECT_EQ(*value, expected) << "'" << text << "' read as " << value->dump();
    EXPECT_EQ(value->type(), expected.type()) << "'" << text << "' read as " << value->dump();
  }
}

TEST(YamlValuesTest, NonFiniteFloatsResolveButCannotTravelInArgs) {
  for (const std::string text : {".inf", "-.inf", "+.INF", ".NaN", "1.0e+400"}) {
    auto resolved = ResolvePlainScalar(text);
    ASSERT_TRUE(resolved.ok()) << text;
    ASSERT_TRUE(resolved->is_number_float()) << text;
    EXPECT_FALSE(std::isfinite(resolved->get<double>())) << text;
    auto value = Read(text);
    ASSERT_FALSE(value.ok()) << text;
    EXPECT_TRUE(absl::StrContains(value.status().message(),
                                  "f.yaml:1: '" + text + "' is not a finite number"))
        << value.status();
  }
}

TEST(YamlValuesTest, AnIntPyYamlCannotConstructIsAnError) {
  for (const std::string text : {"0x_", "0b_", "-0x__"}) {
    auto value = Read(text);
    ASSERT_FALSE(value.ok()) << text;
    EXPECT_TRUE(absl::StrContains(value.status().message(), "f.yaml:1:")) << value.status();
  }
}

TEST(YamlValuesTest, QuotedAndBlockScalarsAreStrings) {
  EXPECT_EQ(*Read("\"yes\""), "yes");
  EXPECT_EQ(*Read("'12'"), "12");
  EXPECT_EQ(*Read("\"null\""), "null");
  EXPECT_EQ(*Read("|\n  on\n"), "on\n");
  EXPECT_EQ(*Read(">-\n  1.5\n"), "1.5");
}

TEST(YamlValuesTest, ExplicitTagsConvertAsTheSafeLoaderDoes) {
  EXPECT_EQ(*Read("!!str 12"), "12");
  EXPECT_EQ(*Read("!!str yes"), "yes");
  EXPECT_EQ(*Read("!!int \"0x10\""), 16);
  EXPECT_EQ(*Read("!!float \"1\""), 1.0);
  EXPECT_EQ(*Read("!!bool \"YeS\""), true);
  EXPECT_EQ(*Read("!!null whatever"), nullptr);
  EXPECT_EQ(*Read("!!timestamp 2001-12-14"), "2001-12-14");
  for (const std::string text :
       {"!!int abc", "!!bool maybe", "!!python/object:os.system x", "!custom 1", "!!binary aGk="}) {
    auto value = Read(text);
    ASSERT_FALSE(value.ok()) << text;
    EXPECT_TRUE(absl::StartsWith(value.status().message(), "f.yaml:1: ")) << value.status();
  }
}

TEST(YamlValuesTest, MergeKeysMergeAsInPyYaml) {
  auto document = ParseYamlDocument("f.yaml", R"(
base: &base {a: 1, b: 1}
other: &other {b: 2, c: 2}
one: {<<: *base, a: 9}
two: {<<: [*base, *other], d: 4}
three:
  <<: *base
  <<: *other
quoted: {"<<": 1}
)");
  ASSERT_TRUE(document.ok()) << document.status();
  YamlBudget budget;
  auto json = YamlToJson("f.yaml", *document, 1, 32, budget);
  ASSERT_TRUE(json.ok()) << json.status();
  EXPECT_EQ((*json)["one"], Json::parse(R"({"a": 9, "b": 1})"));                  // own key wins
  EXPECT_EQ((*json)["two"], Json::parse(R"({"a": 1, "b": 1, "c": 2, "d": 4})"));  // earlier wins
  EXPECT_EQ((*json)["three"], Json::parse(R"({"a": 1, "b": 2, "c": 2})"));        // later << wins
  EXPECT_EQ((*json)["quoted"], Json::parse(R"({"<<": 1})"));

  for (const std::string text : {"x: {<<: 1}\n", "x: {<<: [1]}\n"}) {
    auto bad = ParseYamlDocument("f.yaml", text);
    ASSERT_TRUE(bad.ok());
    YamlBudget fresh;
    auto result = YamlToJson("f.yaml", *bad, 1, 32, fresh);
    ASSERT_FALSE(result.ok()) << text;
    EXPECT_TRUE(absl::StrContains(result.status().message(), "merge key")) << result.status();
  }
}

TEST(YamlValuesTest, MergeBombsAreBounded) {
  // Each level merges the previous one nine times: 9^9 entries expanded.
  std::string text = "l0: &l0 {a: 1, b: 2}\n";
  for (int i = 1; i < 10; ++i) {
    const std::string prev = "*l" + std::to_string(i - 1);
    text += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " {<<: [" + prev;
    for (int j = 1; j < 9; ++j) text += ", " + prev;
    text += "]}\n";
  }
  auto document = ParseYamlDocument("f.yaml", text);
  ASSERT_TRUE(document.ok()) << document.status();
  YamlBudget budget;
  auto json = YamlToJson("f.yaml", *document, 1, 32, budget);
  ASSERT_FALSE(json.ok());
  EXPECT_TRUE(absl::StrContains(json.status().message(), "alias bomb")) << json.status();
}

}  // namespace
}  // namespace appkit::ctl
