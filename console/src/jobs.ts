// Recent jobs, newest first (ListJobs), refreshed while the view is open.
import { create } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { unary } from "./api";
import { appLink, banner, h, jobPath, replace } from "./dom";
import { type Job, ListJobsReplySchema, ListJobsRequestSchema } from "./gen/cdnwarm/v1/producer_pb";
import type { Cleanup, Navigate } from "./main";

function progress(job: Job): string {
  const total = Number(job.totalTasks) * Math.max(1, job.regions.length);
  const pending = job.regions.reduce((s, r) => s + Number(r.pending), 0);
  return total === 0 ? "—" : `${Math.floor(((total - pending) * 100) / total)} %`;
}

export function jobsView(main: HTMLElement, navigate: Navigate): Cleanup {
  const body = h("section", { id: "jobs" }, banner("info", "Loading jobs…"));
  replace(main, h("h1", {}, "Jobs"), body);
  let timer: number | undefined;
  let stopped = false;

  async function load(): Promise<void> {
    try {
      const reply = await unary("cdnwarm.v1.Producer/ListJobs", [ListJobsRequestSchema, create(ListJobsRequestSchema, { pageSize: 50 })], ListJobsReplySchema);
      if (stopped) return;
      if (reply.jobs.length === 0) {
        replace(body, banner("empty", "No jobs yet. ", appLink("/", navigate, {}, "Warm some URLs")));
      } else {
        replace(
          body,
          h(
            "table",
            { class: "jobs" },
            h("caption", {}, `${reply.jobs.length} of ${reply.totalJobs} jobs known to this producer`),
            h("thead", {}, h("tr", {}, ["Job", "Created", "URLs", "Regions", "Progress", "State"].map((c) => h("th", { scope: "col" }, c)))),
            h(
              "tbody",
              {},
              reply.jobs.map((job) =>
                h(
                  "tr",
                  {},
                  h(
                    "td",
                    {},
                    appLink(jobPath(job.jobId), navigate, {}, job.jobId),
                  ),
                  h("td", {}, job.createdAt ? timestampDate(job.createdAt).toLocaleString() : "—"),
                  h("td", {}, String(job.totalTasks)),
                  h("td", {}, job.regions.map((r) => r.region).join(", ")),
                  h("td", {}, progress(job)),
                  h("td", {}, h("span", { class: job.done ? "badge ok" : "badge" }, job.done ? "done" : "in progress")),
                ),
              ),
            ),
          ),
        );
      }
    } catch (err) {
      if (!stopped) replace(body, banner("error", `Jobs: ${(err as Error).message}`));
    }
    if (!stopped) timer = window.setTimeout(() => void load(), 5000);
  }
  void load();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
  };
}
