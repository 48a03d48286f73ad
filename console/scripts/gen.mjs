// Generates the message types from ../proto with protoc and protoc-gen-es into src/gen
// (not committed). protoc is Debian's protobuf-compiler.
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..");
const protoRoot = join(root, "..", "proto");
const out = join(root, "src", "gen");
const plugin = join(root, "node_modules", ".bin", "protoc-gen-es");
const files = readdirSync(join(protoRoot, "cdnwarm", "v1"))
  .filter((f) => f.endsWith(".proto"))
  .map((f) => join("cdnwarm", "v1", f));

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
execFileSync(
  process.env.PROTOC || "protoc",
  [`--plugin=protoc-gen-es=${plugin}`, `--es_out=${out}`, "--es_opt=target=ts", `-I${protoRoot}`, ...files],
  { stdio: "inherit" },
);
