// User text in config errors (keys, names, values, the file name) is shown with control
// characters escaped: an ESC cannot drive the terminal, a NUL cannot cut the message short,
// a CR/LF cannot forge a second error line (issue 12, "Large configs").
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "config/load.h"
#include "config/loader.h"
#include "test_helpers.h"

namespace cw::config {
namespace {

using detail::escape_text;

using test::dump;

// No byte below 0x20, no DEL, no C1 control (as raw byte or as UTF-8).
bool printable(const std::string& s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7F) return false;
    if (c == 0xC2 && i + 1 < s.size() && static_cast<unsigned char>(s[i + 1]) < 0xA0) return false;
  }
  return true;
}

ConfigError one_error(const std::string& yaml) {
  LoadResult r = load_config_string(yaml, "causeway.yaml");
  EXPECT_EQ(r.errors.size(), 1u) << dump(r);
  if (r.errors.empty()) return {};
  const ConfigError& e = r.errors[0];
  EXPECT_TRUE(printable(e.key_path)) << dump(r);
  EXPECT_TRUE(printable(e.message)) << dump(r);
  EXPECT_TRUE(printable(e.format())) << dump(r);
  return e;
}

const std::string kRest = test::kListener + test::kWeb;

TEST(EscapeText, ControlCharactersBecomePrintableEscapes) {
  EXPECT_EQ(escape_text("plain text, 'quotes' and \\ stay"), "plain text, 'quotes' and \\ stay");
  EXPECT_EQ(escape_text("a\x1b[31mb"), "a\\x1b[31mb");
  EXPECT_EQ(escape_text(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(escape_text("a\r\nb\tc"), "a\\r\\nb\\tc");
  EXPECT_EQ(escape_text("\x7f\x01\x1f"), "\\x7f\\x01\\x1f");
}

TEST(EscapeText, Utf8IsKeptC1ControlsAndBadBytesAreEscaped) {
  EXPECT_EQ(escape_text("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  EXPECT_EQ(escape_text("\xc2\x9b"
                        "31m"),
            "\\u009b31m");                         // U+009B, CSI
  EXPECT_EQ(escape_text("\xc2\xa0"), "\xc2\xa0");  // U+00A0 is printable
  EXPECT_EQ(escape_text("\x9b"
                        "31m"),
            "\\x9b31m");                                      // a lone byte, CSI in Latin-1
  EXPECT_EQ(escape_text("\xc3"), "\\xc3");                    // cut sequence
  EXPECT_EQ(escape_text("\xc0\xaf"), "\\xc0\\xaf");           // overlong '/'
  EXPECT_EQ(escape_text("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // surrogate
}

TEST(ConfigEscapes, KeyWithEscapeSequence) {
  const ConfigError e = one_error("\"bad\\e[2Jkey\": 1\n" + kRest);
  EXPECT_EQ(e.line, 1);
  EXPECT_EQ(e.column, 1);
  EXPECT_EQ(e.key_path, "[\"bad\\x1b[2Jkey\"]");
  EXPECT_EQ(e.message, "unknown key 'bad\\x1b[2Jkey'");
  EXPECT_EQ(e.format(), "causeway.yaml:1:1: unknown key 'bad\\x1b[2Jkey'");
}

TEST(ConfigEscapes, KeyWithNulKeepsTheRestOfTheMessage) {
  const ConfigError e = one_error("\"nul\\0after\": 1\n" + kRest);
  EXPECT_EQ(e.message, "unknown key 'nul\\x00after'");
  // The whole message survives a C string (printf("%s")).
  EXPECT_EQ(std::string(e.format().c_str()), "causeway.yaml:1:1: unknown key 'nul\\x00after'");
}

TEST(ConfigEscapes, KeyWithCrLfCannotForgeALine) {
  const ConfigError e = one_error("\"a\\r\\nb.yaml:1:1: fake\": 1\n" + kRest);
  EXPECT_EQ(e.message, "unknown key 'a\\r\\nb.yaml:1:1: fake'");
  const std::string shown = e.format();
  EXPECT_EQ(std::count(shown.begin(), shown.end(), '\n'), 0);
}

TEST(ConfigEscapes, NestedKeyPathIsEscaped) {
  const ConfigError e = one_error("admin: { listen: 127.0.0.1:9901, \"x\\ty\": 1 }\n" + kRest);
  EXPECT_EQ(e.key_path, "admin[\"x\\ty\"]");
  EXPECT_EQ(e.message, "unknown key 'x\\ty'");
  EXPECT_EQ(e.format(), "causeway.yaml:1:34: admin: unknown key 'x\\ty'");
}

TEST(ConfigEscapes, ValuesAndNamesAreEscaped) {
  EXPECT_EQ(one_error("workers: \"\\e]0;pwned\\a\"\n" + kRest).message,
            "expected an integer between 1 and 1024 or 'auto', got '\\x1b]0;pwned\\x07'");
  EXPECT_EQ(one_error("listeners:\n"
                      "  - name: \"ed\\0ge\"\n"
                      "    listen: 127.0.0.1:0\n"
                      "    routes: [{ match: { path_prefix: / }, direct_response: {} }]\n")
                .message,
            "invalid name 'ed\\x00ge': use letters, digits, '.', '_' and '-' (at most 64 "
            "characters)");
  EXPECT_EQ(one_error("drain_timeout: \"3\\u009b\"\n" + kRest).message,
            "expected a duration such as 250ms, 3s or 1m (units: us, ms, s, m, h), got "
            "'3\\u009b'");
}

TEST(ConfigEscapes, LongValuesAreCutOnACharacterBoundary) {
  // 39 ASCII bytes then a two-byte character across the 40-byte cut.
  const std::string value = std::string(39, 'a') + "\xc3\xa9" + "tail";
  const ConfigError e = one_error("workers: \"" + value + "\"\n" + kRest);
  EXPECT_EQ(e.message, "expected an integer between 1 and 1024 or 'auto', got '" +
                           std::string(39, 'a') + "...'");
}

TEST(ConfigEscapes, FileNameIsEscaped) {
  LoadResult r = load_config_string("workers: 0\n" + kRest, "con\x1b[1mfig.yaml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].format(),
            "con\\x1b[1mfig.yaml:1:10: workers: 0 is out of range (expected between 1 and 1024)");
}

}  // namespace
}  // namespace cw::config
