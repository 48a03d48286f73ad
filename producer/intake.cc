#include "producer/intake.h"

#include "absl/algorithm/container.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/core/proto_time.h"

namespace cdnwarm::producer {

absl::StatusOr<common::CanonicalUrl> Intake::Validate(absl::string_view raw,
                                                      absl::string_view field) const {
  absl::StatusOr<common::CanonicalUrl> url = common::CanonicalizeUrl(raw, field);
  if (!url.ok()) return url.status();
  if (absl::Status s = guard_.CheckHost(url->host); !s.ok()) {
    return absl::PermissionDeniedError(absl::StrCat(field, ": ", s.message()));
  }
  // RFC 6761: localhost and *.localhost name loopback, whatever DNS says; refused here at
  // once, unless loopback is allowed, rather than at the warmer's connect.
  absl::string_view name = url->host;
  while (absl::ConsumeSuffix(&name, ".")) {
  }
  if ((name == "localhost" || absl::EndsWith(name, ".localhost")) &&
      !guard_.addresses.CheckText("127.0.0.1").ok()) {
    return absl::PermissionDeniedError(
        absl::StrCat(field, ": host \"", url->host,
                     "\" is reserved for loopback (RFC 6761), which is refused (allow it with "
                     "--allow_private_ranges=127.0.0.0/8)"));
  }
  // A literal address is refused here already; names are checked by the warmer at connect.
  // The canonical host is an address exactly when it is [IPv6] or dotted decimal (the
  // standard reads a host whose last label is a number as IPv4), so a name is not parsed.
  absl::string_view host = url->host;
  if (absl::ConsumePrefix(&host, "[")) {
    absl::ConsumeSuffix(&host, "]");
  } else if (!absl::c_all_of(host, [](char c) { return absl::ascii_isdigit(c) || c == '.'; })) {
    return url;  // a name
  }
  if (absl::Status s = guard_.addresses.CheckText(host);
      s.code() == absl::StatusCode::kPermissionDenied) {
    return absl::PermissionDeniedError(absl::StrCat(field, ": ", s.message()));
  }
  return url;
}

void Intake::Enqueue(const std::string& job_id, uint32_t index, const common::CanonicalUrl& url,
                     const TaskTemplate& options, Lane lane, absl::Time deadline,
                     PublishCallback done) {
  const absl::Time now = absl::Now();
  publisher_.Publish(
      MakeTask(options, job_id, index, url.url, now), lane, deadline,
      [this, job_id, index, now, done = std::move(done)](absl::StatusOr<Published> published) {
        if (published.ok()) tracker_.OnTask(job_id, index, now);
        done(std::move(published));
      });
}

void Intake::NoteTruncation(const std::string& job_id, const cdnwarm::v1::Truncation& truncated,
                            absl::Time deadline, PublishCallback done) {
  cdnwarm::v1::WarmResult note;
  note.set_job_id(job_id);
  *note.mutable_truncated() = truncated;
  *note.mutable_finished_at() = common::ToProtoTimestamp(absl::Now());
  publisher_.PublishNote(note, deadline,
                         [this, note, done = std::move(done)](absl::StatusOr<Published> published) {
                           if (published.ok()) tracker_.OnResult(note);
                           done(std::move(published));
                         });
}

}  // namespace cdnwarm::producer
