// A job, live: WatchJob's stream drawn as per-region bars, elapsed time and rate, and the
// failed and unverified URLs with each region's detail (ListResults). The job id is in the
// path, so a reload shows the same job; a stream that ends early (a producer restart) is
// opened again.
import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { ApiError, stream, unary } from "./api";
import { appLink, banner, h, replace } from "./dom";
import { CacheStatus, Outcome, type WarmResult } from "./gen/cdnwarm/v1/common_pb";
import {
  type Job,
  type RegionProgress,
  JobSchema,
  ListResultsReplySchema,
  ListResultsRequestSchema,
  WatchJobRequestSchema,
} from "./gen/cdnwarm/v1/producer_pb";
import type { Cleanup, Navigate } from "./main";

const SEGMENTS: { key: keyof RegionProgress; label: string }[] = [
  { key: "warmed", label: "warmed" },
  { key: "coalesced", label: "coalesced" },
  { key: "unverified", label: "unverified" },
  { key: "failed", label: "failed" },
  { key: "expired", label: "expired" },
  { key: "skipped", label: "skipped" },
  { key: "pending", label: "pending" },
];

function n(v: bigint | number | undefined): number {
  return Number(v ?? 0);
}

function regionBars(job: Job): HTMLElement {
  const total = Math.max(1, n(job.totalTasks));
  return h(
    "div",
    { class: "regions" },
    job.regions.map((r) =>
      h(
        "div",
        { class: "region", "data-region": r.region },
        h("div", { class: "region-head" }, h("strong", {}, r.region), h("span", { class: r.done ? "badge ok" : "badge" }, r.done ? "done" : "in progress")),
        h(
          "div",
          { class: "bar", role: "img", "aria-label": `${r.region}: ${n(r.warmed)} warmed of ${n(job.totalTasks)}` },
          SEGMENTS.filter((s) => n(r[s.key] as bigint) > 0).map((s) =>
            h("span", { class: `seg ${s.label}`, "data-width": Math.round((n(r[s.key] as bigint) * 1000) / total) }),
          ),
        ),
        h(
          "dl",
          { class: "counts" },
          [...SEGMENTS, { key: "verifiedHits" as keyof RegionProgress, label: "verified HIT" }].map((s) =>
            h("div", {}, h("dt", {}, s.label), h("dd", { "data-count": s.label }, String(n(r[s.key] as bigint)))),
          ),
        ),
      ),
    ),
  );
}

// Widths go through CSSOM, not inline style attributes (the CSP allows no inline style).
function sizeBars(root: HTMLElement): void {
  root.querySelectorAll<HTMLElement>(".seg").forEach((seg) => {
    seg.style.width = `${Number(seg.dataset.width) / 10}%`;
  });
}

function duration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(0)} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.floor(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.floor((seconds % 3600) / 60)} min`;
}

function summary(job: Job): HTMLElement {
  const created = job.createdAt ? timestampDate(job.createdAt) : null;
  const until = job.done && job.updatedAt ? timestampDate(job.updatedAt) : new Date();
  const seconds = created ? Math.max(0.001, (until.getTime() - created.getTime()) / 1000) : 0;
  const finished = job.regions.reduce((sum, r) => sum + n(job.totalTasks) - n(r.pending), 0);
  return h(
    "dl",
    { class: "summary" },
    h("div", {}, h("dt", {}, "URLs"), h("dd", {}, String(n(job.totalTasks)))),
    h("div", {}, h("dt", {}, "State"), h("dd", {}, job.done ? "done" : "in progress")),
    h("div", {}, h("dt", {}, "Elapsed"), h("dd", {}, created ? duration(seconds) : "—")),
    h("div", {}, h("dt", {}, "Rate"), h("dd", {}, created ? `${(finished / seconds).toFixed(1)} results/s` : "—")),
  );
}

function cacheName(s: CacheStatus): string {
  return s === CacheStatus.UNSPECIFIED ? "—" : (CacheStatus[s] ?? "UNKNOWN");
}

function failuresTable(results: WarmResult[]): HTMLElement {
  if (results.length === 0) return banner("empty", "No failed or unverified URLs.");
  return h(
    "table",
    { class: "failures" },
    h("caption", {}, "Failed and unverified URLs"),
    h(
      "thead",
      {},
      h("tr", {}, ["URL", "Region", "Outcome", "HTTP", "Cache", "PoP", "Attempts", "Error"].map((c) => h("th", { scope: "col" }, c))),
    ),
    h(
      "tbody",
      {},
      results.map((r) =>
        h(
          "tr",
          { "data-region": r.region },
          h("td", { class: "url" }, r.url),
          h("td", {}, r.region),
          h("td", {}, Outcome[r.outcome] ?? String(r.outcome)),
          h("td", { "data-status": r.httpStatus }, r.httpStatus ? String(r.httpStatus) : "—"),
          h("td", {}, `${cacheName(r.cacheBefore)} → ${cacheName(r.cacheAfter)}`),
          h("td", {}, r.variants.map((v) => v.pop).filter(Boolean).join(", ") || "—"),
          h("td", {}, String(r.attempts)),
          h("td", { class: "error" }, r.error || "—"),
        ),
      ),
    ),
  );
}

export function jobView(main: HTMLElement, jobId: string, navigate: Navigate): Cleanup {
  const abort = new AbortController();
  const status = h("div", { "aria-live": "polite" });
  const live = h("section", { id: "job" }, banner("info", "Loading the job…"));
  const failures = h("section", { id: "failures" });
  let retry: number | undefined;
  let retryFailures: number | undefined;
  let failedSeen = -1;

  replace(
    main,
    h(
      "div",
      { class: "title" },
      h("h1", {}, "Job ", h("code", {}, jobId)),
      appLink("/jobs", navigate, {}, "All jobs"),
    ),
    status,
    live,
    failures,
  );

  async function loadFailures(): Promise<void> {
    const results: WarmResult[] = [];
    let pageToken = "";
    try {
      do {
        const page = await unary(
          "cdnwarm.v1.Producer/ListResults",
          [ListResultsRequestSchema, create(ListResultsRequestSchema, { jobId, outcomes: [Outcome.FAILED, Outcome.UNVERIFIED], pageSize: 500, pageToken })],
          ListResultsReplySchema,
        );
        results.push(...page.results);
        pageToken = page.nextPageToken;
      } while (pageToken && results.length < 5000 && !abort.signal.aborted);
      if (!abort.signal.aborted) replace(failures, failuresTable(results));
    } catch (err) {
      if (abort.signal.aborted) return;
      replace(failures, banner("error", `Results: ${(err as Error).message}`));
      // A load that failed (the producer restarting, Kafka slow to answer) is tried again:
      // the failed count it was for may never change again, and a done job sends no more
      // updates.
      window.clearTimeout(retryFailures);
      retryFailures = window.setTimeout(() => void loadFailures(), 2000);
    }
  }

  function draw(job: Job): void {
    replace(status);
    const bars = regionBars(job);
    replace(live, summary(job), bars);
    sizeBars(bars);
    const failed = job.regions.reduce((s, r) => s + n(r.failed) + n(r.unverified), 0);
    if (failed !== failedSeen) {
      failedSeen = failed;
      void loadFailures();
    }
  }

  async function watch(): Promise<void> {
    let done = false;
    try {
      const end = await stream(
        "cdnwarm.v1.Producer/WatchJob",
        [WatchJobRequestSchema, create(WatchJobRequestSchema, { jobId })],
        JobSchema,
        (job) => {
          done = job.done;
          draw(job);
        },
        abort.signal,
      );
      if (done || end.code === 0) return;
      replace(status, banner("info", `The live view was interrupted (${end.status}); reconnecting…`));
    } catch (err) {
      if (abort.signal.aborted) return;
      const e = err as ApiError;
      if (e.httpStatus === 404) {
        replace(live, banner("error", e.message));
        return;
      }
      replace(status, banner("error", `${e.message}; reconnecting…`));
    }
    if (!abort.signal.aborted) retry = window.setTimeout(() => void watch(), 2000);
  }

  void watch();
  return () => {
    abort.abort();
    window.clearTimeout(retry);
    window.clearTimeout(retryFailures);
  };
}
