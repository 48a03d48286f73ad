// The producer's /v1/ JSON API (common/web/json_gateway.h): the gRPC contracts in protobuf's
// canonical JSON mapping, with message types generated from proto/ by protoc-gen-es.
import { fromJson, toJson, type DescMessage, type MessageShape, type JsonValue } from "@bufbuild/protobuf";

const TOKEN_KEY = "cdnwarm.token";
const OPERATOR_KEY = "cdnwarm.operator";

// The bearer token lives in this tab's sessionStorage: never in a URL or a cookie.
export function getToken(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}
export function setToken(token: string | null): void {
  if (token === null) {
    sessionStorage.removeItem(OPERATOR_KEY);
    sessionStorage.removeItem(TOKEN_KEY);
  }
  else sessionStorage.setItem(TOKEN_KEY, token);
}

// The operators' token, when the bridge wants one to list regions (its --operator_token_file),
// also kept for this tab only.
export function getOperatorToken(): string | null {
  return sessionStorage.getItem(OPERATOR_KEY);
}
export function setOperatorToken(token: string | null): void {
  if (token === null) sessionStorage.removeItem(OPERATOR_KEY);
  else sessionStorage.setItem(OPERATOR_KEY, token);
}

export class ApiError extends Error {
  constructor(
    readonly httpStatus: number,
    readonly code: number,
    readonly status: string,
    message: string,
  ) {
    super(message);
  }
  get unauthenticated(): boolean {
    return this.httpStatus === 401;
  }
}

type Listener = () => void;
const onUnauthenticated: Listener[] = [];
// Called when any call answers 401: the page shows the login prompt.
export function whenUnauthenticated(listener: Listener): void {
  onUnauthenticated.push(listener);
}

function headers(token: string | null): HeadersInit {
  const out: Record<string, string> = { "Content-Type": "application/json" };
  if (token) out.Authorization = `Bearer ${token}`;
  return out;
}

async function errorOf(res: Response, session: boolean): Promise<ApiError> {
  let body: { code?: number; status?: string; message?: string } = {};
  try {
    body = await res.json();
  } catch {
    // not JSON: a proxy's page
  }
  const error = new ApiError(res.status, body.code ?? 2, body.status ?? "UNKNOWN", body.message ?? `HTTP ${res.status}`);
  if (error.unauthenticated && session) onUnauthenticated.forEach((l) => l());
  return error;
}

async function post(method: string, body: JsonValue, token: string | null, signal?: AbortSignal): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(`/v1/${method}`, { method: "POST", headers: headers(token), body: JSON.stringify(body), signal });
  } catch (e) {
    if (signal?.aborted) throw e;
    throw new ApiError(0, 14, "UNAVAILABLE", "the console cannot reach the producer");
  }
  // The producer refusing the session's token signs out; the bridge's refusals do not.
  if (!res.ok) throw await errorOf(res, method.startsWith("cdnwarm.v1.Producer/") && token === getToken());
  return res;
}

export async function unary<I extends DescMessage, O extends DescMessage>(
  method: string,
  input: [I, MessageShape<I>],
  output: O,
  token: string | null = getToken(),
): Promise<MessageShape<O>> {
  const res = await post(method, toJson(input[0], input[1]), token);
  return fromJson(output, await res.json());
}

// A client-streaming call: the messages go as one JSON array.
export async function batch<I extends DescMessage, O extends DescMessage>(
  method: string,
  schema: I,
  inputs: MessageShape<I>[],
  output: O,
): Promise<MessageShape<O>> {
  const res = await post(method, inputs.map((m) => toJson(schema, m)), getToken());
  return fromJson(output, await res.json());
}

export interface StreamEnd {
  code: number;
  status: string;
  message: string;
}

// A server-streaming call read as Server-Sent Events (fetch, so the token is a header).
export async function stream<I extends DescMessage, O extends DescMessage>(
  method: string,
  input: [I, MessageShape<I>],
  output: O,
  onMessage: (m: MessageShape<O>) => void,
  signal: AbortSignal,
): Promise<StreamEnd> {
  const res = await post(method, toJson(input[0], input[1]), getToken(), signal);
  if (!res.body) throw new ApiError(0, 13, "INTERNAL", "the answer has no body");
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let end: StreamEnd = { code: 14, status: "UNAVAILABLE", message: "the stream ended without a status" };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return end;
    buffer += value;
    let cut: number;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const lines = event.split("\n");
      const data = lines.filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
      if (!data) continue; // a heartbeat
      if (lines.includes("event: status")) end = JSON.parse(data) as StreamEnd;
      else onMessage(fromJson(output, JSON.parse(data)));
    }
  }
}
