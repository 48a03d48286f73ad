// Warm: paste URLs (one per line) or give a sitemap or playlist, choose regions, TTL and
// variants, submit. The producer validates; its refusals are shown by line.
import { create } from "@bufbuild/protobuf";
import { DurationSchema } from "@bufbuild/protobuf/wkt";
import { ApiError, batch, unary } from "./api";
import { appLink, banner, h, jobPath, replace } from "./dom";
import {
  type TaskOptions,
  type WarmBatchReply,
  TaskOptionsSchema,
  WarmBatchReplySchema,
  WarmPlaylistRequestSchema,
  WarmRequestSchema,
  WarmSitemapRequestSchema,
} from "./gen/cdnwarm/v1/producer_pb";
import { RequestVariantSchema, HeaderSchema } from "./gen/cdnwarm/v1/common_pb";
import type { Cleanup, Navigate } from "./main";

function field(id: string, label: string, control: HTMLElement, hint?: string): HTMLElement {
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    control,
    hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null,
  );
}

// "br Accept-Encoding: br" lines into variants; errors name the line.
function parseVariants(text: string): TaskOptions["variants"] {
  const variants: TaskOptions["variants"] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    const m = /^(\S+)\s+([^:\s]+):\s*(.*)$/.exec(line);
    if (!m) throw new Error(`Variants, line ${i + 1}: write "name Header-Name: value"`);
    variants.push(
      create(RequestVariantSchema, { name: m[1], headers: [create(HeaderSchema, { name: m[2], value: m[3] })] }),
    );
  });
  return variants;
}

export function warmView(main: HTMLElement, navigate: Navigate): Cleanup {
  const mode = { value: "urls" };
  const urls = h("textarea", { id: "urls", rows: 10, spellcheck: false, "aria-describedby": "urls-hint" });
  const source = h("input", { id: "source", type: "url", "aria-describedby": "source-hint" });
  const regions = h("input", { id: "regions", type: "text", "aria-describedby": "regions-hint" });
  const ttl = h("input", { id: "ttl", type: "number", min: 0, step: 1, "aria-describedby": "ttl-hint" });
  const variants = h("textarea", { id: "variants", rows: 3, spellcheck: false, "aria-describedby": "variants-hint" });
  const result = h("section", { "aria-live": "polite", id: "result" });
  const submit = h("button", { type: "submit" }, "Warm");

  const urlsField = field("urls", "URLs, one per line", urls, "Each line is one URL; blank lines are skipped.");
  const sourceField = field("source", "Sitemap or playlist URL", source, "A sitemap (.xml, .xml.gz) or an HLS playlist (.m3u8).");
  sourceField.hidden = true;

  const choose = (value: string) => () => {
    mode.value = value;
    urlsField.hidden = value !== "urls";
    sourceField.hidden = value === "urls";
  };
  const radio = (value: string, label: string) =>
    h("label", { class: "choice" }, h("input", { type: "radio", name: "mode", value, checked: value === "urls", onchange: choose(value) }), label);

  const form = h(
    "form",
    {
      class: "card",
      onsubmit: async (e: Event) => {
        e.preventDefault();
        submit.disabled = true;
        replace(result, banner("info", "Submitting…"));
        try {
          const options = create(TaskOptionsSchema, {
            targetRegions: regions.value.split(",").map((r) => r.trim()).filter(Boolean),
            variants: parseVariants(variants.value),
            ttl: ttl.value && Number(ttl.value) > 0 ? create(DurationSchema, { seconds: BigInt(Math.floor(Number(ttl.value))) }) : undefined,
          });
          let reply: WarmBatchReply;
          let lineOf = (index: number) => index + 1;
          if (mode.value === "urls") {
            const lines = urls.value.split("\n").map((url, i) => ({ url: url.trim(), line: i + 1 })).filter((l) => l.url);
            if (lines.length === 0) throw new Error("Paste at least one URL.");
            lineOf = (index) => lines[index]?.line ?? index + 1;
            reply = await batch(
              "cdnwarm.v1.Producer/WarmBatch",
              WarmRequestSchema,
              lines.map((l) => create(WarmRequestSchema, { url: l.url, options })),
              WarmBatchReplySchema,
            );
          } else if (mode.value === "sitemap") {
            reply = await unary("cdnwarm.v1.Producer/WarmSitemap", [WarmSitemapRequestSchema, create(WarmSitemapRequestSchema, { sitemapUrl: source.value.trim(), options })], WarmBatchReplySchema);
          } else {
            reply = await unary("cdnwarm.v1.Producer/WarmPlaylist", [WarmPlaylistRequestSchema, create(WarmPlaylistRequestSchema, { playlistUrl: source.value.trim(), options })], WarmBatchReplySchema);
          }
          showReply(result, reply, lineOf, navigate);
        } catch (err) {
          replace(result, banner("error", err instanceof ApiError ? `${err.status}: ${err.message}` : (err as Error).message));
        } finally {
          submit.disabled = false;
        }
      },
    },
    h("h1", {}, "Warm"),
    h("fieldset", { class: "choices" }, h("legend", {}, "What to warm"), radio("urls", "URLs"), radio("sitemap", "Sitemap"), radio("playlist", "HLS playlist")),
    urlsField,
    sourceField,
    h(
      "div",
      { class: "row" },
      field("regions", "Target regions", regions, "Comma-separated; empty means every region."),
      field("ttl", "TTL, seconds", ttl, "Drop tasks not warmed in time; 0 or empty keeps them."),
    ),
    field("variants", "Variants", variants, 'One per line: "name Header-Name: value", e.g. "br Accept-Encoding: br".'),
    submit,
  );
  replace(main, form, result);
  urls.focus();
  return () => {};
}

function showReply(result: HTMLElement, reply: WarmBatchReply, lineOf: (i: number) => number, navigate: Navigate): void {
  const link = appLink(jobPath(reply.jobId), navigate, { class: "button" }, "Watch the job");
  const rejected = reply.rejected.map((r) =>
    h("tr", {}, h("td", {}, String(lineOf(r.index))), h("td", { class: "url" }, r.url), h("td", {}, r.reason)),
  );
  replace(
    result,
    h(
      "div",
      { class: "card" },
      h("h2", {}, `Accepted ${reply.accepted}`, reply.rejectedCount > 0 ? `, refused ${reply.rejectedCount}` : ""),
      reply.jobId ? h("p", {}, "Job ", h("code", {}, reply.jobId), " ", link) : null,
      reply.truncated ? banner("info", `Stopped at ${reply.truncated.kept} of ${reply.truncated.found} URLs found.`) : null,
      rejected.length > 0
        ? h(
            "table",
            { class: "rejections" },
            h("caption", {}, "Refused entries"),
            h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Line"), h("th", { scope: "col" }, "URL"), h("th", { scope: "col" }, "Reason"))),
            h("tbody", {}, rejected),
          )
        : null,
    ),
  );
}
