#include "client/ctl/json_sink.h"

#include <string.h>

#include <utility>

#include "absl/strings/str_cat.h"

namespace appkit::ctl {

namespace {

// ",\n" and the indent of a level, in one append: a pool's JSON is 4000
// lines.
constexpr absl::string_view kBreak =
    ",\n                                                                ";

// Bytes written as they are: printable ASCII other than '"' and '\'.
struct PlainBytes {
  bool plain[256] = {};
  constexpr PlainBytes() {
    for (int c = 0x20; c < 0x7f; ++c) plain[c] = c != '"' && c != '\\';
  }
};
constexpr PlainBytes kPlain;

}  // namespace

OrderedJson& JsonTree::Slot() {
  if (open_.empty()) return root_;
  OrderedJson& parent = *open_.back();
  if (parent.is_array()) {
    parent.push_back(nullptr);
    return parent.back();
  }
  return parent[key_];
}

void JsonTree::BeginObject() {
  // The slot stays where it is while it is open: only the innermost open
  // value grows.
  OrderedJson& slot = Slot();
  slot = OrderedJson::object();
  open_.push_back(&slot);
}

void JsonTree::EndObject() { open_.pop_back(); }

void JsonTree::BeginArray() {
  OrderedJson& slot = Slot();
  slot = OrderedJson::array();
  open_.push_back(&slot);
}

void JsonTree::EndArray() { open_.pop_back(); }

JsonSink& JsonTree::Key(absl::string_view key) {
  key_.assign(key.data(), key.size());
  return *this;
}

void JsonTree::String(absl::string_view text) { Slot() = std::string(text); }

void JsonTree::Int(int64_t value) { Slot() = value; }

void JsonTree::UInt(uint64_t value) { Slot() = value; }

void JsonTree::Bool(bool value) { Slot() = value; }

void JsonTree::Json(const OrderedJson& value) { Slot() = value; }

OrderedJson JsonTree::Take() {
  open_.clear();
  return std::move(root_);
}

void JsonText::Separate() {
  if (open_.empty()) return;
  Level& level = open_.back();
  const size_t indent = 2 * open_.size();
  if (indent + 2 <= kBreak.size()) {
    out_->append(kBreak.data() + (level.empty ? 1 : 0), indent + (level.empty ? 1 : 2));
  } else {
    if (!level.empty) out_->push_back(',');
    out_->push_back('\n');
    out_->append(indent, ' ');
  }
  level.empty = false;
}

void JsonText::BeforeValue() {
  if (!open_.empty() && open_.back().in_array) Separate();
}

void JsonText::Begin(char open) {
  BeforeValue();
  out_->push_back(open);
  open_.push_back({open == '[', true});
}

void JsonText::End(char close) {
  const bool empty = open_.back().empty;
  open_.pop_back();
  if (!empty) {
    const size_t indent = 2 * open_.size();
    if (indent + 2 <= kBreak.size()) {
      out_->append(kBreak.data() + 1, indent + 1);
    } else {
      out_->push_back('\n');
      out_->append(indent, ' ');
    }
  }
  out_->push_back(close);
}

void JsonText::BeginObject() { Begin('{'); }
void JsonText::EndObject() { End('}'); }
void JsonText::BeginArray() { Begin('['); }
void JsonText::EndArray() { End(']'); }

JsonSink& JsonText::Key(absl::string_view key) {
  Separate();
  Quoted(key);
  out_->append(": ");
  return *this;
}

void JsonText::Quoted(absl::string_view text) {
  // Anything else (escapes, UTF-8, invalid UTF-8) the way nlohmann writes
  // it.
  for (const char c : text) {
    if (!kPlain.plain[static_cast<unsigned char>(c)]) {
      out_->append(OrderedJson(std::string(text))
                       .dump(-1, ' ', false, OrderedJson::error_handler_t::replace));
      return;
    }
  }
  const size_t size = out_->size();
  out_->resize(size + text.size() + 2);
  char* at = &(*out_)[size];
  at[0] = '"';
  if (!text.empty()) memcpy(at + 1, text.data(), text.size());
  at[text.size() + 1] = '"';
}

void JsonText::String(absl::string_view text) {
  BeforeValue();
  Quoted(text);
}

void JsonText::Int(int64_t value) {
  BeforeValue();
  absl::StrAppend(out_, value);
}

void JsonText::UInt(uint64_t value) {
  BeforeValue();
  absl::StrAppend(out_, value);
}

void JsonText::Bool(bool value) {
  BeforeValue();
  out_->append(value ? "true" : "false");
}

void JsonText::Json(const OrderedJson& value) {
  BeforeValue();
  // Its own pretty text, indented to where it goes: a newline in that
  // text is always between two lines of the layout (one inside a string
  // is written \n).
  const std::string text = value.dump(2, ' ', false, OrderedJson::error_handler_t::replace);
  const std::string indent(2 * open_.size(), ' ');
  for (const char c : text) {
    out_->push_back(c);
    if (c == '\n') out_->append(indent);
  }
}

}  // namespace appkit::ctl
