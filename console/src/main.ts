// The console's shell: the login prompt, the navigation and the router (/, /jobs,
// /jobs/<id>, /regions). Each view renders into the main element and returns a cleanup.
import "./style.css";
import { create } from "@bufbuild/protobuf";
import { ApiError, getToken, setToken, unary, whenUnauthenticated } from "./api";
import { appLink, banner, h, replace } from "./dom";
import { ListJobsReplySchema, ListJobsRequestSchema } from "./gen/cdnwarm/v1/producer_pb";
import { jobView } from "./job";
import { jobsView } from "./jobs";
import { regionsView } from "./regions";
import { warmView } from "./warm";

export type Cleanup = () => void;
export type Navigate = (path: string) => void;

const app = document.getElementById("app")!;
let cleanup: Cleanup | null = null;

function navigate(path: string): void {
  history.pushState(null, "", path);
  route();
}

function nav(path: string, label: string, current: string): HTMLElement {
  const active = path === "/" ? current === "/" : current.startsWith(path);
  return appLink(path, navigate, { class: active ? "active" : undefined, "aria-current": active ? "page" : undefined }, label);
}

function shell(path: string): HTMLElement {
  const main = h("main", { id: "main" });
  replace(
    app,
    h(
      "header",
      {},
      appLink("/", navigate, { class: "brand" }, "cdnwarm"),
      h("nav", { "aria-label": "Views" }, nav("/", "Warm", path), nav("/jobs", "Jobs", path), nav("/regions", "Regions", path)),
      getToken() ? h("button", { type: "button", class: "link", onclick: () => (setToken(null), route()) }, "Sign out") : null,
    ),
    main,
  );
  return main;
}

function login(message?: string): void {
  cleanup?.();
  cleanup = null;
  const input = h("input", {
    id: "token",
    type: "password",
    autocomplete: "current-password",
    required: true,
    "aria-describedby": "token-help",
  });
  const status = h("div", { "aria-live": "polite" }, message ? banner("error", message) : null);
  const form = h(
    "form",
    {
      class: "card login",
      onsubmit: async (e: Event) => {
        e.preventDefault();
        const token = input.value.trim();
        replace(status, banner("info", "Checking the token…"));
        try {
          await probe(token);
          setToken(token);
          route();
        } catch (err) {
          const e2 = err as ApiError;
          replace(status, banner("error", e2.unauthenticated ? "That token was refused." : e2.message));
        }
      },
    },
    h("h1", {}, "Sign in"),
    h("label", { for: "token" }, "Bearer token"),
    input,
    h("p", { id: "token-help", class: "hint" }, "The producer's API token (its --auth_token_file). It stays in this tab only."),
    h("button", { type: "submit" }, "Sign in"),
    status,
  );
  replace(app, h("header", {}, h("span", { class: "brand" }, "cdnwarm")), h("main", { id: "main" }, form));
  input.focus();
}

// The cheapest call that needs the token: one job of the list.
async function probe(token: string): Promise<void> {
  await unary("cdnwarm.v1.Producer/ListJobs", [ListJobsRequestSchema, create(ListJobsRequestSchema, { pageSize: 1 })], ListJobsReplySchema, token);
}

// A producer without --auth_token_file takes calls without a token: no prompt then.
async function needsToken(): Promise<boolean> {
  try {
    await probe("");
    return false;
  } catch {
    return true;
  }
}

function route(): void {
  cleanup?.();
  cleanup = null;
  if (getToken() === null) {
    void needsToken().then((needed) => {
      if (needed) return login();
      setToken(""); // authentication is off
      route();
    });
    return;
  }
  const path = location.pathname;
  const main = shell(path);
  const job = /^\/jobs\/([^/]+)$/.exec(path);
  if (job) cleanup = jobView(main, decodeURIComponent(job[1]), navigate);
  else if (path === "/jobs") cleanup = jobsView(main, navigate);
  else if (path === "/regions") cleanup = regionsView(main);
  else if (path === "/") cleanup = warmView(main, navigate);
  else replace(main, banner("empty", "Nothing here. ", appLink("/", navigate, {}, "Warm URLs")));
}

whenUnauthenticated(() => {
  setToken(null);
  login("Your token was refused; sign in again.");
});
window.addEventListener("popstate", route);
route();
