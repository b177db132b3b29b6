#include "common/base/command_line.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace appkit {
namespace {

bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Characters a shell would act on when unquoted.
bool NeedsShell(char c) {
  switch (c) {
    case '|':
    case '&':
    case ';':
    case '<':
    case '>':
    case '(':
    case ')':
    case '$':
    case '`':
    case '*':
    case '?':
    case '[':
    case '#':
    case '~':
      return true;
    default:
      return false;
  }
}

}  // namespace

absl::StatusOr<std::vector<std::string>> SplitCommandLine(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (IsBlank(c)) {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
      continue;
    }
    if (c == '\\') {
      if (i + 1 >= text.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("command '", text, "' ends with a lone backslash"));
      }
      ++i;
      if (text[i] == '\n') continue;  // a continued line
      word += text[i];
      in_word = true;
      continue;
    }
    if (c == '\'') {
      const size_t end = text.find('\'', i + 1);
      if (end == std::string::npos) {
        return absl::InvalidArgumentError(
            absl::StrCat("command '", text, "' has an unterminated ' quote"));
      }
      word.append(text, i + 1, end - i - 1);
      i = end;
      in_word = true;
      continue;
    }
    if (c == '"') {
      size_t j = i + 1;
      for (;; ++j) {
        if (j >= text.size()) {
          return absl::InvalidArgumentError(
              absl::StrCat("command '", text, "' has an unterminated \" quote"));
        }
        if (text[j] == '"') break;
        if (text[j] == '\\' && j + 1 < text.size() &&
            (text[j + 1] == '"' || text[j + 1] == '\\' || text[j + 1] == '$' ||
             text[j + 1] == '`' || text[j + 1] == '\n')) {
          if (text[j + 1] != '\n') word += text[j + 1];
          ++j;
          continue;
        }
        if (text[j] == '$' || text[j] == '`') {
          return absl::InvalidArgumentError(absl::StrCat(
              "command '", text, "' expands '", std::string(1, text[j]),
              "' inside \"...\": appkit runs no shell; escape it or use [sh, -c, ...]"));
        }
        word += text[j];
      }
      i = j;
      in_word = true;
      continue;
    }
    if (NeedsShell(c) && !(c == '#' && in_word) && !(c == '~' && in_word)) {
      return absl::InvalidArgumentError(
          absl::StrCat("command '", text, "' has an unquoted '", std::string(1, c),
                       "', which needs a shell: appkit runs the program itself; quote it, or run "
                       "[sh, -c, '...'] explicitly"));
    }
    word += c;
    in_word = true;
  }
  if (in_word) words.push_back(std::move(word));
  if (words.empty()) return absl::InvalidArgumentError("command is empty");
  return words;
}

bool IsEnvironmentName(const std::string& name) {
  if (name.empty() || absl::ascii_isdigit(static_cast<unsigned char>(name[0]))) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_') return false;
  }
  return true;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseEnvironmentFile(
    const std::string& text, const std::string& name) {
  std::vector<std::pair<std::string, std::string>> assignments;
  size_t i = 0;
  int line = 1;
  auto error = [&](int at, const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat(name, ":", at, ": ", why));
  };
  while (i < text.size()) {
    const int start_line = line;
    // Leading blanks, then a comment or a blank line.
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r')) ++i;
    if (i >= text.size()) break;
    if (text[i] == '\n') {
      ++i;
      ++line;
      continue;
    }
    if (text[i] == '#' || text[i] == ';') {
      while (i < text.size() && text[i] != '\n') ++i;
      continue;
    }
    const size_t eq = text.find('=', i);
    const size_t eol = text.find('\n', i);
    if (eq == std::string::npos || (eol != std::string::npos && eol < eq)) {
      return error(start_line,
                   absl::StrCat("'", text.substr(i, eol - i), "' is not a KEY=VALUE assignment"));
    }
    std::string key(absl::StripTrailingAsciiWhitespace(text.substr(i, eq - i)));
    if (!IsEnvironmentName(key)) {
      return error(start_line, absl::StrCat("'", key, "' is not a variable name"));
    }
    i = eq + 1;
    while (i < text.size() && (text[i] == ' ' || text[i] == '\t')) ++i;
    std::string value;
    if (i < text.size() && (text[i] == '\'' || text[i] == '"')) {
      const char quote = text[i++];
      for (;; ++i) {
        if (i >= text.size())
          return error(start_line, std::string("unterminated ") + quote + " quote");
        const char c = text[i];
        if (c == quote) break;
        if (c == '\n') ++line;
        if (quote == '"' && c == '\\' && i + 1 < text.size()) {
          const char next = text[i + 1];
          if (next == '\n') {
            ++line;
            ++i;
            continue;
          }
          if (next == '"' || next == '\\' || next == '`' || next == '$') {
            value += next;
            ++i;
            continue;
          }
        }
        value += c;
      }
      ++i;  // the closing quote; anything after it on the line but blanks is an error
      while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r')) ++i;
      if (i < text.size() && text[i] != '\n') {
        return error(line, absl::StrCat("text after the closing quote of ", key));
      }
    } else {
      for (; i < text.size() && text[i] != '\n'; ++i) {
        if (text[i] == '\\' && i + 1 < text.size()) {
          ++i;
          if (text[i] == '\n') {
            ++line;
            continue;
          }
        }
        value += text[i];
      }
      value = std::string(absl::StripTrailingAsciiWhitespace(value));
    }
    assignments.emplace_back(std::move(key), std::move(value));
  }
  return assignments;
}

}  // namespace appkit
