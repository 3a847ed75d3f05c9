// `npm start`: the chat demo (examples/chat). Builds first only when dist/
// is missing or older than a source, then runs the demo; SIGINT and SIGTERM
// are passed on to it, and its exit code is this script's.
import { spawn, spawnSync } from "node:child_process";
import { needsBuild } from "./dist-fresh.mjs";

if (needsBuild()) {
  console.log("building dist/ (missing or older than the sources)…");
  const build = spawnSync("npm", ["run", "build", "--silent"], { stdio: "inherit" });
  if (build.status !== 0) process.exit(build.status ?? 1);
}
const demo = spawn(process.execPath, ["dist/examples/chat/server.js"], { stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    if (demo.exitCode === null && demo.signalCode === null) demo.kill(signal);
  });
}
demo.on("exit", (code, signal) => process.exit(code ?? (signal === null ? 0 : 1)));
