#include "producer/sitemap_parser.h"

#include <expat.h>
#include <zlib.h>

#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/core/c_handle.h"

namespace cdnwarm::producer {
namespace {

// Element names without a namespace prefix ("sm:loc" -> "loc").
absl::string_view LocalName(const XML_Char* name) {
  absl::string_view n(name);
  const size_t colon = n.rfind(':');
  return colon == absl::string_view::npos ? n : n.substr(colon + 1);
}

}  // namespace

struct SitemapParser::Impl {
  SitemapLimits limits;
  LocSink sink;
  common::CHandle<XML_ParserStruct, XML_ParserFree> xml;
  SitemapKind kind = SitemapKind::kUnknown;
  int depth = 0;
  bool in_loc = false;
  std::string loc;
  absl::Status error;

  // Gzip state, decided from the first two bytes.
  enum class Encoding { kUndecided, kPlain, kGzip } encoding = Encoding::kUndecided;
  std::string head;  // bytes held until the encoding is known
  z_stream z{};
  bool z_open = false;
  int64_t decompressed = 0;

  static void OnStart(void* data, const XML_Char* name, const XML_Char**) {
    auto* self = static_cast<Impl*>(data);
    const absl::string_view local = LocalName(name);
    if (self->depth == 0) {
      if (local == "urlset") {
        self->kind = SitemapKind::kUrlSet;
      } else if (local == "sitemapindex") {
        self->kind = SitemapKind::kIndex;
      } else {
        self->Fail(absl::InvalidArgumentError(
            absl::StrCat("root element <", local, "> is neither <urlset> nor <sitemapindex>")));
        return;
      }
    }
    ++self->depth;
    // <urlset><url><loc> and <sitemapindex><sitemap><loc>: depth 3 once inside.
    if (self->depth == 3 && local == "loc") {
      self->in_loc = true;
      self->loc.clear();
    }
  }

  static void OnEnd(void* data, const XML_Char*) {
    auto* self = static_cast<Impl*>(data);
    if (self->in_loc && self->depth == 3) {
      self->in_loc = false;
      absl::string_view loc = absl::StripAsciiWhitespace(self->loc);
      if (absl::Status s = self->sink(self->kind, loc); !s.ok()) self->Fail(std::move(s));
    }
    --self->depth;
  }

  static void OnText(void* data, const XML_Char* s, int len) {
    auto* self = static_cast<Impl*>(data);
    if (!self->in_loc) return;
    if (self->loc.size() + static_cast<size_t>(len) > self->limits.max_loc_bytes) {
      self->Fail(absl::FailedPreconditionError(
          absl::StrCat("a <loc> is longer than ", self->limits.max_loc_bytes, " bytes")));
      return;
    }
    self->loc.append(s, static_cast<size_t>(len));
  }

  static void OnDoctype(void* data, const XML_Char*, const XML_Char*, const XML_Char*, int) {
    static_cast<Impl*>(data)->Fail(
        absl::InvalidArgumentError("DOCTYPE declarations are not allowed in sitemaps"));
  }

  void Fail(absl::Status s) {
    if (error.ok()) error = std::move(s);
    XML_StopParser(xml.get(), XML_FALSE);
  }

  absl::Status ParseXml(const char* data, size_t len, bool final) {
    if (!error.ok()) return error;
    decompressed += static_cast<int64_t>(len);
    if (decompressed > limits.max_decompressed_bytes) {
      return absl::FailedPreconditionError(absl::StrCat(
          "sitemap is larger than ", limits.max_decompressed_bytes, " bytes uncompressed"));
    }
    if (XML_Parse(xml.get(), data, static_cast<int>(len), final ? XML_TRUE : XML_FALSE) ==
        XML_STATUS_ERROR) {
      if (!error.ok()) return error;
      return absl::InvalidArgumentError(absl::StrCat("malformed XML at line ",
                                                     XML_GetCurrentLineNumber(xml.get()), ": ",
                                                     XML_ErrorString(XML_GetErrorCode(xml.get()))));
    }
    return error;
  }

  absl::Status Inflate(const char* data, size_t len) {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data));
    z.avail_in = static_cast<uInt>(len);
    char out[16384];
    while (z.avail_in > 0) {
      z.next_out = reinterpret_cast<Bytef*>(out);
      z.avail_out = sizeof(out);
      const int rc = inflate(&z, Z_NO_FLUSH);
      if (rc != Z_OK && rc != Z_STREAM_END) {
        return absl::InvalidArgumentError(
            absl::StrCat("gzip data is corrupt: ", z.msg != nullptr ? z.msg : "inflate failed"));
      }
      if (absl::Status s = ParseXml(out, sizeof(out) - z.avail_out, false); !s.ok()) return s;
      if (rc == Z_STREAM_END) break;
    }
    return absl::OkStatus();
  }

  absl::Status Feed(absl::string_view bytes) {
    if (encoding == Encoding::kUndecided) {
      head.append(bytes.data(), bytes.size());
      if (head.size() < 2) return absl::OkStatus();
      const bool gzip = static_cast<unsigned char>(head[0]) == 0x1f &&
                        static_cast<unsigned char>(head[1]) == 0x8b;
      encoding = gzip ? Encoding::kGzip : Encoding::kPlain;
      if (gzip) {
        if (inflateInit2(&z, 15 + 16) != Z_OK) return absl::InternalError("inflateInit2 failed");
        z_open = true;
      }
      std::string held;
      held.swap(head);
      return Feed(held);
    }
    if (encoding == Encoding::kGzip) return Inflate(bytes.data(), bytes.size());
    return ParseXml(bytes.data(), bytes.size(), false);
  }
};

SitemapParser::SitemapParser(SitemapLimits limits, LocSink sink) : impl_(std::make_unique<Impl>()) {
  impl_->limits = limits;
  impl_->sink = std::move(sink);
  impl_->xml.reset(XML_ParserCreate(nullptr));
  XML_SetUserData(impl_->xml.get(), impl_.get());
  XML_SetElementHandler(impl_->xml.get(), &Impl::OnStart, &Impl::OnEnd);
  XML_SetCharacterDataHandler(impl_->xml.get(), &Impl::OnText);
  XML_SetStartDoctypeDeclHandler(impl_->xml.get(), &Impl::OnDoctype);
}

SitemapParser::~SitemapParser() {
  if (impl_->z_open) inflateEnd(&impl_->z);
}

absl::Status SitemapParser::Feed(absl::string_view bytes) { return impl_->Feed(bytes); }

absl::Status SitemapParser::Finish() {
  if (impl_->encoding == Impl::Encoding::kUndecided && !impl_->head.empty()) {
    impl_->encoding = Impl::Encoding::kPlain;
    std::string held;
    held.swap(impl_->head);
    if (absl::Status s = impl_->ParseXml(held.data(), held.size(), false); !s.ok()) return s;
  }
  if (absl::Status s = impl_->ParseXml("", 0, true); !s.ok()) return s;
  if (impl_->kind == SitemapKind::kUnknown) {
    return absl::InvalidArgumentError("document is empty");
  }
  return absl::OkStatus();
}

SitemapKind SitemapParser::kind() const { return impl_->kind; }

}  // namespace cdnwarm::producer
