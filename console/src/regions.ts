// The streamer-bridge's regions (ListSubscriptions), refreshing, and Seek per region behind
// a confirmation and the operators' token.
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { ApiError, getOperatorToken, getToken, setOperatorToken, unary } from "./api";
import { banner, h, replace } from "./dom";
import {
  type RegionInfo,
  ListSubscriptionsReplySchema,
  ListSubscriptionsRequestSchema,
  SeekReplySchema,
  SeekRequestSchema,
} from "./gen/cdnwarm/v1/bridge_pb";
import type { Cleanup } from "./main";

function regionCard(r: RegionInfo, onSeek: (region: string) => void): HTMLElement {
  const lag = r.partitions.reduce((s, p) => s + Number(p.lag), 0);
  const paused = r.partitions.filter((p) => p.paused).length;
  return h(
    "article",
    { class: "card region-card", "data-region": r.region },
    h("div", { class: "region-head" }, h("h2", {}, r.region), h("span", { class: r.joined ? "badge ok" : "badge" }, r.joined ? "joined" : "no consumer here")),
    h(
      "dl",
      { class: "counts" },
      h("div", {}, h("dt", {}, "subscribers"), h("dd", { "data-count": "subscribers" }, String(r.subscribers.length))),
      h("div", {}, h("dt", {}, "partitions"), h("dd", {}, String(r.partitions.length))),
      h("div", {}, h("dt", {}, "lag"), h("dd", {}, String(lag))),
      h("div", {}, h("dt", {}, "paused"), h("dd", {}, String(paused))),
      h("div", {}, h("dt", {}, "outstanding"), h("dd", {}, String(r.outstanding))),
      h("div", {}, h("dt", {}, "redeliveries"), h("dd", {}, String(r.redeliveries))),
      h("div", {}, h("dt", {}, "dead letters"), h("dd", {}, String(r.deadLetters))),
    ),
    r.subscribers.length > 0
      ? h("ul", { class: "subscribers", "aria-label": `${r.region} subscribers` }, r.subscribers.map((s) => h("li", {}, h("code", {}, s.subscriberId), ` ${s.outstanding}/${s.maxOutstanding} outstanding`)))
      : h("p", { class: "hint" }, "No warmer subscribed."),
    h("button", { type: "button", class: "secondary", onclick: () => onSeek(r.region) }, `Seek ${r.region}…`),
  );
}

function seekDialog(region: string, done: () => void): HTMLDialogElement {
  const position = h(
    "select",
    { id: "seek-position" },
    h("option", { value: "earliest" }, "earliest: replay the retained backlog"),
    h("option", { value: "latest" }, "latest: skip the backlog"),
    h("option", { value: "timestamp" }, "a time: replay from then"),
  );
  const when = h("input", { id: "seek-time", type: "datetime-local" });
  const token = h("input", { id: "seek-token", type: "password", autocomplete: "off" });
  const status = h("div", { "aria-live": "polite" });
  const dialog = h("dialog", { class: "card", "aria-labelledby": "seek-title" });
  const form = h(
    "form",
    {
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const request = create(SeekRequestSchema, { region });
        if (position.value === "earliest") request.position = { case: "earliest", value: true };
        else if (position.value === "latest") request.position = { case: "latest", value: true };
        else {
          if (!when.value) return replace(status, banner("error", "Choose a time."));
          request.position = { case: "timestamp", value: timestampFromDate(new Date(when.value)) };
        }
        replace(status, banner("info", "Seeking…"));
        try {
          // The operators' token, for this call only; it is not kept.
          const reply = await unary("cdnwarm.v1.Bridge/Seek", [SeekRequestSchema, request], SeekReplySchema, token.value.trim() || null);
          replace(status, banner("info", `Moved ${reply.partitions.length} partitions.`));
        } catch (err) {
          const e2 = err as ApiError;
          replace(status, banner("error", `Refused: ${e2.status}: ${e2.message}`));
        }
      },
    },
    h("h2", { id: "seek-title" }, `Seek ${region}`),
    h("p", {}, "Moves every partition of the region's group. Replaying warms again; skipping leaves jobs pending."),
    h("label", { for: "seek-position" }, "Position"),
    position,
    h("label", { for: "seek-time" }, "Time (for a time)"),
    when,
    h("label", { for: "seek-token" }, "Operator token"),
    token,
    h("div", { class: "actions" }, h("button", { type: "submit", class: "danger" }, "Seek"), h("button", { type: "button", class: "secondary", onclick: () => (dialog.close(), done()) }, "Close")),
    status,
  );
  dialog.append(form);
  return dialog;
}

export function regionsView(main: HTMLElement): Cleanup {
  const body = h("section", { id: "regions" }, banner("info", "Loading regions…"));
  const dialogs = h("div");
  replace(main, h("h1", {}, "Regions"), body, dialogs);
  let timer: number | undefined;
  let stopped = false;
  const onSeek = (region: string) => {
    const dialog = seekDialog(region, () => replace(dialogs));
    replace(dialogs, dialog);
    dialog.showModal();
  };

  // The bridge lists regions to its operators: when it refuses the session's token, the
  // view asks for the operators' token.
  function askOperatorToken(message: string): void {
    const input = h("input", { id: "operator-token", type: "password", autocomplete: "off", required: true });
    replace(
      body,
      banner("error", message),
      h(
        "form",
        {
          class: "card",
          onsubmit: (e: Event) => {
            e.preventDefault();
            setOperatorToken(input.value.trim());
            replace(body, banner("info", "Loading regions…"));
            void load();
          },
        },
        h("label", { for: "operator-token" }, "Operator token"),
        input,
        h("p", { class: "hint" }, "The streamer-bridge's --operator_token_file. It stays in this tab only."),
        h("button", { type: "submit" }, "Show regions"),
      ),
    );
  }

  async function load(): Promise<void> {
    try {
      const reply = await unary(
        "cdnwarm.v1.Bridge/ListSubscriptions",
        [ListSubscriptionsRequestSchema, create(ListSubscriptionsRequestSchema)],
        ListSubscriptionsReplySchema,
        getOperatorToken() ?? getToken(),
      );
      if (stopped) return;
      replace(
        body,
        reply.regions.length === 0 ? banner("empty", "The bridge knows no region yet.") : h("div", { class: "grid" }, reply.regions.map((r) => regionCard(r, onSeek))),
        h("p", { class: "hint" }, `Bridge replica ${reply.replica}; refreshed every 5 s.`),
      );
    } catch (err) {
      const e = err as ApiError;
      if (stopped) return;
      if (e.httpStatus === 401 || e.httpStatus === 403) {
        const had = getOperatorToken() !== null;
        setOperatorToken(null);
        return askOperatorToken(had ? `The operator token was refused: ${e.message}` : `The bridge needs the operators' token: ${e.message}`);
      }
      replace(body, banner("error", e.httpStatus === 404 ? "This console has no bridge to ask (--console_bridge_address)." : `Regions: ${e.message}`));
    }
    if (!stopped) timer = window.setTimeout(() => void load(), 5000);
  }
  void load();
  return () => {
    stopped = true;
    window.clearTimeout(timer);
  };
}
