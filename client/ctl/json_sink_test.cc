// The two JSON sinks: JsonText writes what JsonTree's dump (PrintJson's
// format) would, for every shape the proto walk produces.
#include "client/ctl/json_sink.h"

#include <functional>

#include "gtest/gtest.h"

namespace appkit::ctl {
namespace {

// The same calls to both sinks; the text must be the tree's dump.
void ExpectSameText(const std::function<void(JsonSink&)>& calls, const std::string& expected) {
  JsonTree tree;
  calls(tree);
  std::string text;
  JsonText sink(&text);
  calls(sink);
  EXPECT_EQ(text, tree.Take().dump(2, ' ', false, OrderedJson::error_handler_t::replace));
  EXPECT_EQ(text, expected);
}

TEST(JsonSinkTest, Scalars) {
  ExpectSameText([](JsonSink& s) { s.Int(-9223372036854775807LL - 1); }, "-9223372036854775808");
  ExpectSameText([](JsonSink& s) { s.UInt(18446744073709551615ULL); }, "18446744073709551615");
  ExpectSameText([](JsonSink& s) { s.Bool(false); }, "false");
  ExpectSameText([](JsonSink& s) { s.String("a\"b"); }, "\"a\\\"b\"");
  ExpectSameText([](JsonSink& s) { s.Json(OrderedJson()); }, "null");
}

TEST(JsonSinkTest, EmptyObjectsAndArraysStayOnTheirLine) {
  ExpectSameText([](JsonSink& s) { s.BeginObject(), s.EndObject(); }, "{}");
  ExpectSameText([](JsonSink& s) { s.BeginArray(), s.EndArray(); }, "[]");
  ExpectSameText(
      [](JsonSink& s) {
        s.BeginObject();
        s.Key("o"), s.BeginObject(), s.EndObject();
        s.Key("a"), s.BeginArray(), s.EndArray();
        s.EndObject();
      },
      "{\n  \"o\": {},\n  \"a\": []\n}");
}

TEST(JsonSinkTest, NestedValuesAreIndentedTwoSpacesALevel) {
  ExpectSameText(
      [](JsonSink& s) {
        s.BeginArray();
        s.Int(1);
        s.BeginObject();
        s.Key("k"), s.BeginArray(), s.String("x"), s.BeginArray(), s.EndArray(), s.EndArray();
        s.Key("b"), s.Bool(true);
        s.EndObject();
        s.BeginArray(), s.BeginObject(), s.EndObject(), s.EndArray();
        s.EndArray();
      },
      "[\n  1,\n  {\n    \"k\": [\n      \"x\",\n      []\n    ],\n    \"b\": true\n  },\n"
      "  [\n    {}\n  ]\n]");
}

// Deeper than the indents written in one piece.
TEST(JsonSinkTest, DeepNesting) {
  for (const int depth : {31, 32, 33, 40}) {
    std::string expected;
    for (int i = 0; i < depth; ++i) expected += "[\n" + std::string(2 * (i + 1), ' ');
    expected += "{\n" + std::string(2 * (depth + 1), ' ') + "\"k\": 1,\n" +
                std::string(2 * (depth + 1), ' ') + "\"l\": {}\n" + std::string(2 * depth, ' ') +
                "}";
    for (int i = depth - 1; i >= 0; --i) expected += "\n" + std::string(2 * i, ' ') + "]";
    ExpectSameText(
        [&](JsonSink& s) {
          for (int i = 0; i < depth; ++i) s.BeginArray();
          s.BeginObject();
          s.Key("k").Int(1);
          s.Key("l").BeginObject();
          s.EndObject();
          s.EndObject();
          for (int i = 0; i < depth; ++i) s.EndArray();
        },
        expected);
  }
}

// A value built elsewhere, embedded at any depth, keeps its own layout
// indented to where it goes (a newline inside one of its strings is \n).
TEST(JsonSinkTest, EmbeddedJsonIsIndentedToItsDepth) {
  const OrderedJson built = OrderedJson::parse(
      R"({"map": {"B": "two\nlines", "A": 1.5}, "list": [null, {}, [], {"x": []}]})");
  ExpectSameText(
      [&](JsonSink& s) {
        s.BeginObject();
        s.Key("first"), s.Json(built);
        s.Key("in"), s.BeginArray(), s.Json(built), s.Json(OrderedJson::object()), s.EndArray();
        s.EndObject();
      },
      "{\n  \"first\": {\n    \"map\": {\n      \"B\": \"two\\nlines\",\n      \"A\": 1.5\n"
      "    },\n    \"list\": [\n      null,\n      {},\n      [],\n      {\n        \"x\": []\n"
      "      }\n    ]\n  },\n  \"in\": [\n    {\n      \"map\": {\n        \"B\": "
      "\"two\\nlines\",\n        \"A\": 1.5\n      },\n      \"list\": [\n        null,\n"
      "        {},\n        [],\n        {\n          \"x\": []\n        }\n      ]\n    },\n"
      "    {}\n  ]\n}");
}

// Keys and strings: printable ASCII as it is, the rest as nlohmann writes
// it (escapes, \u00XX, UTF-8 unchanged, invalid UTF-8 as U+FFFD).
TEST(JsonSinkTest, StringsAndKeysAreEscapedAsTheDump) {
  for (const std::string& text :
       {std::string("plain"), std::string("\"\\/"), std::string("\b\f\n\r\t\x01\x1f\x7f"),
        std::string("\0", 1), std::string("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"),
        std::string("bad \xff"), std::string("cut \xe2\x82"), std::string()}) {
    ExpectSameText(
        [&](JsonSink& s) {
          s.BeginObject();
          s.Key(text), s.String(text);
          s.EndObject();
        },
        OrderedJson({{text, text}}).dump(2, ' ', false, OrderedJson::error_handler_t::replace));
  }
}

}  // namespace
}  // namespace appkit::ctl
