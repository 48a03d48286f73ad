// The canonical form against the Web Platform Tests' URL data (tests/common/fetch/wpt): every
// entry whose URL is http or https. A failure entry must be refused; a valid entry's
// canonical form must be its `href` without the fragment, or the entry must be listed in
// url_conformance_exceptions.txt with the policy that applies. Entries with userinfo are
// refused by policy ("userinfo ... is not allowed"), whatever the file says.

#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "common/fetch/url_canon.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace cdnwarm::common {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Entry {
  std::string input;
  std::string base;  // empty: none
  bool failure = false;
  std::string href;
  bool userinfo = false;
};

std::vector<Entry> LoadEntries() {
  google::protobuf::ListValue list;
  const auto parsed = google::protobuf::util::JsonStringToMessage(
      ReadFile(CDNWARM_WPT_DIR "/urltestdata.json"), &list);
  EXPECT_TRUE(parsed.ok()) << parsed.ToString();
  std::vector<Entry> out;
  for (const auto& v : list.values()) {
    if (!v.has_struct_value()) continue;  // a section comment
    const auto& f = v.struct_value().fields();
    Entry e;
    e.input = f.at("input").string_value();
    if (auto b = f.find("base"); b != f.end()) e.base = b->second.string_value();
    if (auto x = f.find("failure"); x != f.end()) e.failure = x->second.bool_value();
    if (auto h = f.find("href"); h != f.end()) e.href = h->second.string_value();
    for (const char* k : {"username", "password"}) {
      if (auto u = f.find(k); u != f.end() && !u->second.string_value().empty()) e.userinfo = true;
    }
    out.push_back(std::move(e));
  }
  return out;
}

// "input<TAB>policy" lines, the input C-escaped; '#' comments.
std::map<std::string, std::string> LoadExceptions() {
  std::map<std::string, std::string> out;
  std::istringstream in(ReadFile(CDNWARM_WPT_EXCEPTIONS));
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> parts = absl::StrSplit(line, absl::MaxSplits('\t', 1));
    std::string input;
    if (parts.size() == 2 && absl::CUnescape(parts[0], &input)) out[input] = parts[1];
  }
  return out;
}

// The scheme an input names, lower case, or empty when it is relative.
std::string SchemeOf(absl::string_view input) {
  input = absl::StripAsciiWhitespace(input);
  size_t i = 0;
  while (i < input.size() &&
         (absl::ascii_isalnum(input[i]) || input[i] == '+' || input[i] == '-' || input[i] == '.')) {
    ++i;
  }
  if (i == 0 || i >= input.size() || input[i] != ':' || !absl::ascii_isalpha(input[0])) return "";
  return absl::AsciiStrToLower(input.substr(0, i));
}

bool IsHttp(absl::string_view s) { return s == "http" || s == "https"; }

TEST(UrlConformanceTest, EveryHttpEntryOfTheWhatwgTestDataIsHonoured) {
  const std::vector<Entry> entries = LoadEntries();
  const std::map<std::string, std::string> exceptions = LoadExceptions();
  ASSERT_GT(entries.size(), 500u);
  int checked = 0, refused_as_failure = 0, canonical = 0, by_policy = 0;
  std::set<std::string> exceptions_used;
  for (const Entry& e : entries) {
    const std::string scheme = SchemeOf(e.input);
    const std::string base_scheme = SchemeOf(e.base);
    // Which URL the entry is about: its own scheme, else its base's.
    const bool http =
        e.failure ? (IsHttp(scheme) || (scheme.empty() && IsHttp(base_scheme)))
                  : (absl::StartsWith(e.href, "http:") || absl::StartsWith(e.href, "https:"));
    if (!http) continue;
    if (!e.base.empty() && !IsHttp(base_scheme)) continue;  // resolved against another scheme
    ++checked;
    const absl::StatusOr<CanonicalUrl> got =
        e.base.empty() ? CanonicalizeUrl(e.input) : ResolveUrl(e.base, e.input);
    const std::string where = "input \"" + absl::CHexEscape(e.input) + "\" base \"" + e.base + "\"";
    if (e.failure) {
      EXPECT_FALSE(got.ok()) << where << " is invalid by the standard but became " << got->url;
      ++refused_as_failure;
      continue;
    }
    if (auto x = exceptions.find(e.input); x != exceptions.end()) {
      exceptions_used.insert(e.input);
      EXPECT_FALSE(got.ok()) << where << " is refused by policy: " << x->second;
      ++by_policy;
      continue;
    }
    if (e.userinfo) {
      EXPECT_FALSE(got.ok()) << where;
      if (!got.ok()) {
        EXPECT_TRUE(absl::StrContains(got.status().message(), "userinfo")) << where;
      }
      ++by_policy;
      continue;
    }
    const std::string want = e.href.substr(0, e.href.find('#'));
    EXPECT_TRUE(got.ok()) << where << ": " << got.status();
    if (got.ok()) {
      EXPECT_EQ(got->url, want) << where;
    }
    ++canonical;
  }
  for (const auto& [input, policy] : exceptions) {
    EXPECT_TRUE(exceptions_used.count(input))
        << "exception \"" << input << "\" (" << policy << ") matches no valid http(s) entry";
  }
  std::cout << checked << " http(s) entries: " << refused_as_failure << " refused as the "
            << "standard says, " << canonical << " canonical as href, " << by_policy
            << " by policy\n";
}

}  // namespace
}  // namespace cdnwarm::common
