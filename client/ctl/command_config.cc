#include "client/ctl/command_config.h"

#include <fstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace appkit::ctl {
namespace {

constexpr size_t kMaxEnvFileBytes = 1 << 20;

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\n'; }

bool ValidName(absl::string_view name) {
  if (name.empty() || absl::ascii_isdigit(name[0])) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(c) && c != '_') return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::vector<std::string>> SplitCommandLine(absl::string_view text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (IsBlank(c)) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else if (c == '\'') {
      const size_t end = text.find('\'', i + 1);
      if (end == absl::string_view::npos) {
        return absl::InvalidArgumentError(absl::StrCat("unterminated ' at offset ", i));
      }
      absl::StrAppend(&word, text.substr(i + 1, end - i - 1));
      in_word = true;
      i = end;
    } else if (c == '"') {
      size_t j = i + 1;
      for (; j < text.size() && text[j] != '"'; ++j) {
        if (text[j] == '\\' && j + 1 < text.size() &&
            absl::string_view("$`\"\\\n").find(text[j + 1]) != absl::string_view::npos) {
          if (text[j + 1] != '\n') word.push_back(text[j + 1]);
          ++j;
        } else if (text[j] == '$' || text[j] == '`') {
          return absl::InvalidArgumentError(
              absl::StrCat("'", std::string(1, text[j]), "' at offset ", j,
                           " needs a shell (expansion): escape it, or give command as a list"));
        } else {
          word.push_back(text[j]);
        }
      }
      if (j >= text.size()) {
        return absl::InvalidArgumentError(absl::StrCat("unterminated \" at offset ", i));
      }
      in_word = true;
      i = j;
    } else if (c == '\\') {
      if (i + 1 >= text.size()) {
        return absl::InvalidArgumentError("a backslash ends the command");
      }
      if (text[i + 1] != '\n') word.push_back(text[i + 1]);  // \newline: continued
      in_word = in_word || text[i + 1] != '\n';
      ++i;
    } else if (absl::string_view("$`|;&<>()").find(c) != absl::string_view::npos ||
               (c == '#' && !in_word)) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", std::string(1, c), "' at offset ", i,
                       " needs a shell: quote it, or give command as a list"));
    } else {
      word.push_back(c);
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(word));
  if (words.empty()) return absl::InvalidArgumentError("the command is empty");
  return words;
}

absl::StatusOr<std::map<std::string, std::string>> ParseEnvText(const std::string& path,
                                                                absl::string_view text) {
  std::map<std::string, std::string> env;
  int line_number = 0;
  size_t at = 0;
  auto error = [&](int line, const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(path, ":", line, ": ", why));
  };
  while (at < text.size()) {
    size_t end = text.find('\n', at);
    if (end == absl::string_view::npos) end = text.size();
    absl::string_view line = text.substr(at, end - at);
    ++line_number;
    const int first_line = line_number;
    at = end + 1;
    line = absl::StripLeadingAsciiWhitespace(line);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    const size_t eq = line.find('=');
    if (eq == absl::string_view::npos) {
      return error(first_line, absl::StrCat("expected KEY=VALUE, got '", line, "'"));
    }
    const absl::string_view name = absl::StripTrailingAsciiWhitespace(line.substr(0, eq));
    if (!ValidName(name)) {
      return error(first_line,
                   absl::StrCat("'", name, "' is not a variable name ([A-Za-z_][A-Za-z0-9_]*)"));
    }
    absl::string_view rest = absl::StripLeadingAsciiWhitespace(line.substr(eq + 1));
    std::string value;
    if (!rest.empty() && (rest[0] == '\'' || rest[0] == '"')) {
      const char quote = rest[0];
      // A quoted value may span lines: read on until its closing quote.
      size_t pos = static_cast<size_t>(rest.data() - text.data()) + 1;
      bool closed = false;
      for (; pos < text.size(); ++pos) {
        const char c = text[pos];
        if (c == quote) {
          closed = true;
          break;
        }
        if (c == '\n') ++line_number;
        if (quote == '"' && c == '\\' && pos + 1 < text.size()) {
          const char next = text[++pos];
          if (next == '\n') {
            ++line_number;
            continue;
          }
          value.push_back(next);
          continue;
        }
        value.push_back(c);
      }
      if (!closed) return error(first_line, absl::StrCat("unterminated ", std::string(1, quote)));
      size_t after = text.find('\n', pos);
      if (after == absl::string_view::npos) after = text.size();
      absl::string_view trailing =
          absl::StripAsciiWhitespace(text.substr(pos + 1, after - pos - 1));
      if (!trailing.empty()) {
        return error(line_number, absl::StrCat("text after the closing quote: '", trailing, "'"));
      }
      at = after + 1;
    } else {
      // Bare: a trailing backslash continues the value on the next line.
      for (;;) {
        absl::string_view part = absl::StripTrailingAsciiWhitespace(rest);
        if (!part.empty() && part.back() == '\\' && at < text.size()) {
          absl::StrAppend(&value, part.substr(0, part.size() - 1));
          size_t next_end = text.find('\n', at);
          if (next_end == absl::string_view::npos) next_end = text.size();
          rest = text.substr(at, next_end - at);
          at = next_end + 1;
          ++line_number;
          continue;
        }
        absl::StrAppend(&value, part);
        break;
      }
    }
    if (value.find('\0') != std::string::npos) return error(first_line, "a NUL byte in the value");
    env[std::string(name)] = std::move(value);
  }
  return env;
}

absl::StatusOr<std::map<std::string, std::string>> ParseEnvFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read env_file ", path));
  std::string text;
  char chunk[64 << 10];
  while (text.size() <= kMaxEnvFileBytes && in.read(chunk, sizeof(chunk)).gcount() > 0) {
    text.append(chunk, static_cast<size_t>(in.gcount()));
  }
  if (text.size() > kMaxEnvFileBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("env_file ", path, " is larger than 1 MiB: refused"));
  }
  return ParseEnvText(path, text);
}

}  // namespace appkit::ctl
