#include "warmer/http_engine.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/core/sync.h"
#include "common/fetch/curl_handles.h"
#include "common/fetch/url_canon.h"

namespace cdnwarm::warmer {

struct HttpEngine::Transfer {
  const common::FetchGuard* guard = nullptr;
  long hop_status = 0;  // status of the response whose headers are arriving
  common::CurlEasyPtr easy;
  common::CurlSlistPtr headers;
  common::ConnectCheck check;
  std::string host;
  Callback done;
  HttpResponse response;
  int64_t max_body_bytes = 0;
  char error[CURL_ERROR_SIZE] = {};

  static size_t OnHeader(char* data, size_t size, size_t n, void* userdata) {
    auto* t = static_cast<Transfer*>(userdata);
    const size_t len = size * n;
    absl::string_view line(data, len);
    if (absl::StartsWith(line, "HTTP/")) {
      t->response.headers.clear();  // a new response (after 1xx or a redirect)
      const size_t sp = line.find(' ');
      t->hop_status = 0;
      if (sp != absl::string_view::npos &&
          !absl::SimpleAtoi(line.substr(sp + 1, 3), &t->hop_status)) {
        t->hop_status = 0;
      }
      return len;
    }
    const size_t colon = line.find(':');
    if (colon == absl::string_view::npos) return len;
    const std::string name =
        absl::AsciiStrToLower(absl::StripAsciiWhitespace(line.substr(0, colon)));
    const absl::string_view value = absl::StripAsciiWhitespace(line.substr(colon + 1));
    if (name == "location" && t->hop_status >= 300 && t->hop_status < 400 &&
        t->guard->follow_redirects && !t->CheckRedirect(value)) {
      return 0;  // the next hop is not allowed: stop before connecting to it
    }
    std::string& slot = t->response.headers[name];
    if (!slot.empty()) slot += ", ";
    slot.append(value.data(), value.size());
    return len;
  }

  // The same host allow-list for every hop; addresses are checked at connect as always.
  // libcurl follows the Location with its own parser: the host it will connect to must pass
  // too, so a Location the two parsers read differently cannot slip past the list.
  bool CheckRedirect(absl::string_view location) {
    char* current = nullptr;
    curl_easy_getinfo(easy.get(), CURLINFO_EFFECTIVE_URL, &current);
    absl::StatusOr<common::CanonicalUrl> next =
        common::ResolveUrl(current != nullptr ? current : "", location, "Location");
    absl::Status s = next.ok() ? guard->CheckHost(next->host) : next.status();
    if (s.ok()) {
      common::CurlUrlPtr h(curl_url());
      const std::string loc(location);
      char* curl_host = nullptr;
      if (h == nullptr || current == nullptr ||
          curl_url_set(h.get(), CURLUPART_URL, current, 0) != CURLUE_OK ||
          curl_url_set(h.get(), CURLUPART_URL, loc.c_str(), 0) != CURLUE_OK ||
          curl_url_get(h.get(), CURLUPART_HOST, &curl_host, 0) != CURLUE_OK) {
        s = absl::InvalidArgumentError("Location: libcurl cannot follow it");
      } else {
        common::CurlStringPtr owned(curl_host);
        s = guard->CheckHost(absl::AsciiStrToLower(owned.get()));
      }
    }
    if (s.ok()) return true;
    check.refusal = absl::StrCat("redirect refused: ", s.message());
    return false;
  }

  static size_t OnBody(char*, size_t size, size_t n, void* userdata) {
    auto* t = static_cast<Transfer*>(userdata);
    const size_t len = size * n;
    if (t->response.body_bytes + static_cast<int64_t>(len) > t->max_body_bytes) {
      t->response.body_bytes = t->max_body_bytes;
      t->response.body_capped = true;
      return 0;  // stop reading; reported as capped, not hidden
    }
    t->response.body_bytes += static_cast<int64_t>(len);
    return len;
  }
};

struct HttpEngine::Metrics {
  explicit Metrics(metrics::Registry& r)
      : responses(r.AddCounter("cdnwarm_warmer_http_responses_total",
                               "HTTP exchanges by status class (2xx..5xx, error, refused, "
                               "backoff)",
                               {"class"})),
        connect(r.AddHistogram("cdnwarm_warmer_connect_seconds", "Time to connect",
                               metrics::LatencyBuckets())
                    .Get()),
        first_byte(r.AddHistogram("cdnwarm_warmer_first_byte_seconds", "Time to first byte",
                                  metrics::LatencyBuckets())
                       .Get()),
        total(r.AddHistogram("cdnwarm_warmer_total_seconds", "Time of whole exchanges",
                             metrics::LatencyBuckets())
                  .Get()),
        queued(r.AddHistogram("cdnwarm_warmer_queued_seconds",
                              "Time an exchange waited for a slot (the per-host and total "
                              "limits, a host's rate) before it started",
                              metrics::LatencyBuckets())
                   .Get()),
        bytes(
            r.AddCounter("cdnwarm_warmer_body_bytes_total", "Body bytes read and discarded").Get()),
        in_flight(r.AddGauge("cdnwarm_warmer_http_in_flight", "HTTP exchanges running").Get()),
        backoffs(r.AddCounter("cdnwarm_warmer_host_backoffs_total",
                              "Times a host was backed off as a whole after repeated failures")
                     .Get()),
        decreases(r.AddCounter("cdnwarm_warmer_host_concurrency_decreases_total",
                               "Times a host's adaptive concurrency limit was halved")
                      .Get()) {}
  metrics::Family<metrics::Counter>& responses;
  metrics::Histogram& connect;
  metrics::Histogram& first_byte;
  metrics::Histogram& total;
  metrics::Histogram& queued;
  metrics::Counter& bytes;
  metrics::Gauge& in_flight;
  metrics::Counter& backoffs;
  metrics::Counter& decreases;
};

HttpEngine::HttpEngine(EngineOptions options, const common::FetchGuard& guard,
                       metrics::Registry& registry)
    : options_(std::move(options)), guard_(guard), metrics_(std::make_unique<Metrics>(registry)) {}

absl::StatusOr<std::unique_ptr<HttpEngine>> HttpEngine::Create(EngineOptions options,
                                                               const common::FetchGuard& guard,
                                                               metrics::Registry& registry) {
  if (options.max_total < 1 || options.max_per_host < 1) {
    return absl::InvalidArgumentError("concurrency limits must be at least 1");
  }
  common::EnsureCurlInitialized();
  std::unique_ptr<HttpEngine> e(new HttpEngine(std::move(options), guard, registry));
  e->multi_.reset(curl_multi_init());
  if (!e->multi_) return absl::ResourceExhaustedError("curl_multi_init failed");
  curl_multi_setopt(e->multi_.get(), CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX);
  for (const std::string& pin : e->options_.connect_to) {
    if (!common::AppendToSlist(e->connect_to_, pin)) {
      return absl::ResourceExhaustedError("curl_slist_append failed");
    }
  }
  e->thread_ = std::thread([raw = e.get()] { raw->Run(); });
  return e;
}

HttpEngine::~HttpEngine() {
  {
    common::MutexLock lock(&mu_);
    stopping_ = true;
  }
  curl_multi_wakeup(multi_.get());
  thread_.join();
  std::vector<std::pair<Callback, HttpResponse>> answers;
  {
    common::MutexLock lock(&mu_);
    HttpResponse stopped;
    stopped.curl_code = CURLE_ABORTED_BY_CALLBACK;
    stopped.error = "the warmer is shutting down";
    for (auto& [easy, t] : transfers_) {
      curl_multi_remove_handle(multi_.get(), easy);
      answers.emplace_back(std::move(t->done), stopped);
    }
    transfers_.clear();
    for (auto& [name, host] : hosts_) {
      for (Pending& p : host.queue) answers.emplace_back(std::move(p.done), stopped);
    }
    hosts_.clear();
  }
  for (auto& [done, r] : answers) done(r);
}

void HttpEngine::Fetch(HttpRequest request, Callback done) {
  {
    common::MutexLock lock(&mu_);
    Host& host = hosts_[request.host];
    if (host.refilled == absl::InfinitePast()) {
      host.limit = options_.max_per_host;
      host.tokens = options_.host_burst;
      host.refilled = options_.clock->Now();
    }
    host.queue.push_back(Pending{std::move(request), std::move(done), options_.clock->Now()});
  }
  curl_multi_wakeup(multi_.get());
}

int HttpEngine::in_flight() const {
  common::MutexLock lock(&mu_);
  return in_flight_;
}

double HttpEngine::host_limit(const std::string& host) const {
  common::MutexLock lock(&mu_);
  auto it = hosts_.find(host);
  return it == hosts_.end() ? options_.max_per_host : it->second.limit;
}

absl::Duration HttpEngine::Admit(absl::Time now,
                                 std::vector<std::pair<Callback, HttpResponse>>* answers) {
  absl::Duration wait = absl::Milliseconds(200);
  for (auto it = hosts_.begin(); it != hosts_.end();) {
    const std::string& name = it->first;
    Host& host = it->second;
    // Forget idle, healthy hosts so the table does not grow with every host ever seen.
    if (host.queue.empty() && host.in_flight == 0 && host.consecutive_failures == 0 &&
        host.limit >= options_.max_per_host && now >= host.backoff_until) {
      it = hosts_.erase(it);
      continue;
    }
    ++it;
    if (host.queue.empty()) continue;
    if (now < host.backoff_until) {
      // Not hammered: everything waiting for this host goes back to the bridge for later.
      for (Pending& p : host.queue) {
        HttpResponse r;
        r.host_backed_off = true;
        r.backoff_left = host.backoff_until - now;
        r.error = absl::StrCat("host ", name, " is backed off after repeated failures");
        metrics_->responses.Labels({"backoff"}).Increment();
        answers->emplace_back(std::move(p.done), std::move(r));
      }
      host.queue.clear();
      continue;
    }
    if (options_.host_rate > 0) {
      host.tokens = std::min<double>(
          options_.host_burst,
          host.tokens + absl::ToDoubleSeconds(now - host.refilled) * options_.host_rate);
      host.refilled = now;
    }
    while (!host.queue.empty() && in_flight_ < options_.max_total &&
           host.in_flight < static_cast<int>(std::floor(host.limit))) {
      if (options_.host_rate > 0) {
        if (host.tokens < 1) {
          wait = std::min(wait, absl::Seconds((1 - host.tokens) / options_.host_rate));
          break;
        }
        host.tokens -= 1;
      }
      Pending p = std::move(host.queue.front());
      host.queue.pop_front();
      metrics_->queued.Observe(now - p.queued_at);
      Start(host, std::move(p));
    }
  }
  return wait;
}

void HttpEngine::Start(Host& host, Pending pending) {
  auto t = std::make_unique<Transfer>();
  if (idle_easy_.empty()) {
    t->easy.reset(curl_easy_init());
  } else {
    t->easy = std::move(idle_easy_.back());
    idle_easy_.pop_back();
    // Every option back to its default (connections live in the multi handle's pool).
    curl_easy_reset(t->easy.get());
  }
  t->host = pending.request.host;
  t->done = std::move(pending.done);
  t->max_body_bytes = options_.max_body_bytes;
  t->check.policy = &guard_.addresses;
  t->guard = &guard_;
  CURL* e = t->easy.get();
  common::ApplyFetchGuard(e, &t->check);
  if (guard_.follow_redirects) {
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(e, CURLOPT_MAXREDIRS, static_cast<long>(guard_.max_redirects));
  }
  curl_easy_setopt(e, CURLOPT_URL, pending.request.url.c_str());
  // The canonical target goes on the wire as it is (libcurl would resolve dot segments).
  curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PRIVATE, t.get());
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error);
  curl_easy_setopt(e, CURLOPT_USERAGENT, options_.user_agent.c_str());
  if (!options_.ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, options_.ca_file.c_str());
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_2TLS));
  curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
  const long connect_ms = absl::ToInt64Milliseconds(options_.connect_timeout);
  const long total_ms = absl::ToInt64Milliseconds(options_.total_timeout);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, total_ms);
  if (connect_to_) curl_easy_setopt(e, CURLOPT_CONNECT_TO, connect_to_.get());
  for (const auto& [name, value] : pending.request.headers) {
    common::AppendToSlist(t->headers, absl::StrCat(name, ": ", value));
  }
  if (t->headers) curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers.get());
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &Transfer::OnHeader);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, t.get());
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Transfer::OnBody);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get());
  curl_multi_add_handle(multi_.get(), e);
  ++host.in_flight;
  ++in_flight_;
  metrics_->in_flight.Set(in_flight_);
  transfers_.emplace(e, std::move(t));
}

void HttpEngine::Adapt(Host& host, const HttpResponse& r, absl::Time now) {
  const bool failed = !r.refusal.empty() ? false
                      : r.curl_code != CURLE_OK && !r.body_capped
                          ? true
                          : r.status >= 500 || r.status == 429;
  const bool slow = r.first_byte_time > options_.slow_first_byte;
  if (failed || slow) {
    // Multiplicative decrease, at most once a second so one burst does not collapse it.
    if (now - host.last_decrease >= absl::Seconds(1)) {
      host.limit = std::max(1.0, host.limit / 2);
      host.last_decrease = now;
      metrics_->decreases.Increment();
    }
  } else {
    // Additive increase: about one more slot per window of `limit` successes.
    host.limit = std::min<double>(options_.max_per_host, host.limit + 1.0 / host.limit);
  }
  if (failed) {
    ++host.consecutive_failures;
    if (host.consecutive_failures >= options_.failures_before_backoff) {
      const int over = host.consecutive_failures - options_.failures_before_backoff;
      const absl::Duration backoff =
          std::min(options_.max_host_backoff, absl::Seconds(1) * (1 << std::min(over, 10)));
      host.backoff_until = now + backoff;
      metrics_->backoffs.Increment();
    }
  } else if (r.refusal.empty()) {
    host.consecutive_failures = 0;
  }
}

void HttpEngine::Finished(CURL* easy, CURLcode code) {
  std::unique_ptr<Transfer> t;
  {
    common::MutexLock lock(&mu_);
    auto it = transfers_.find(easy);
    if (it == transfers_.end()) return;
    t = std::move(it->second);
    transfers_.erase(it);
    curl_multi_remove_handle(multi_.get(), easy);
    HttpResponse& r = t->response;
    r.curl_code = code;
    if (code != CURLE_OK && !r.body_capped) {
      r.error = t->error[0] != '\0' ? t->error : curl_easy_strerror(code);
    }
    r.refusal = t->check.refusal;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r.status);
    curl_off_t v = 0;
    curl_easy_getinfo(easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &v);
    r.content_length = v;
    curl_easy_getinfo(easy, CURLINFO_CONNECT_TIME_T, &v);
    r.connect_time = absl::Microseconds(v);
    curl_easy_getinfo(easy, CURLINFO_STARTTRANSFER_TIME_T, &v);
    r.first_byte_time = absl::Microseconds(v);
    curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &v);
    r.total_time = absl::Microseconds(v);

    if (idle_easy_.size() < static_cast<size_t>(options_.max_total)) {
      idle_easy_.push_back(std::move(t->easy));
    }
    Host& host = hosts_[t->host];
    --host.in_flight;
    --in_flight_;
    metrics_->in_flight.Set(in_flight_);
    Adapt(host, r, options_.clock->Now());
  }
  const HttpResponse& r = t->response;
  const char* cls = !r.refusal.empty() ? "refused"
                    : r.status == 0    ? "error"
                    : r.status < 300   ? "2xx"
                    : r.status < 400   ? "3xx"
                    : r.status < 500   ? "4xx"
                                       : "5xx";
  metrics_->responses.Labels({cls}).Increment();
  metrics_->bytes.Increment(static_cast<double>(r.body_bytes));
  if (r.status != 0) {
    metrics_->connect.Observe(r.connect_time);
    metrics_->first_byte.Observe(r.first_byte_time);
    metrics_->total.Observe(r.total_time);
  }
  t->done(std::move(t->response));
}

void HttpEngine::Run() {
  for (;;) {
    std::vector<std::pair<Callback, HttpResponse>> answers;
    absl::Duration wait;
    {
      common::MutexLock lock(&mu_);
      if (stopping_) return;
      wait = Admit(options_.clock->Now(), &answers);
    }
    for (auto& [done, r] : answers) done(std::move(r));
    int running = 0;
    curl_multi_perform(multi_.get(), &running);
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_.get(), &left)) {
      if (msg->msg == CURLMSG_DONE) Finished(msg->easy_handle, msg->data.result);
    }
    const int timeout_ms =
        static_cast<int>(std::clamp<int64_t>(absl::ToInt64Milliseconds(wait), 1, 200));
    curl_multi_poll(multi_.get(), nullptr, 0, timeout_ms, nullptr);
  }
}

}  // namespace cdnwarm::warmer
