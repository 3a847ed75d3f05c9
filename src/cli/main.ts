#!/usr/bin/env node
/**
 * The `wsx` command: `wsx connect`, `wsx serve`, `wsx bench`. Each command
 * lives in its own module and returns an exit code; every failure becomes
 * one line on stderr and a code from {@link ExitCode}, never a stack trace.
 * The commands use wsx's public API only (they import from ../index.js).
 */
import { readFileSync } from "node:fs";
import { runBench } from "./bench.js";
import { runConnect } from "./connect.js";
import { ExitCode, describeError, exitCodeOf } from "./exit.js";
import { runServe } from "./serve.js";

type Command = (args: string[]) => Promise<number>;

const COMMANDS: Record<string, Command> = { connect: runConnect, serve: runServe, bench: runBench };

const HELP = `Usage: wsx COMMAND [options]

Commands:
  connect URL   talk to a WebSocket server: interactive, piped (echo hi | wsx connect URL) or -x MSG
  serve         run a WebSocket server: --echo, --broadcast, --static DIR, TLS, compression
  bench URL     load an echo server: messages/s, MB/s, latency percentiles

wsx COMMAND --help shows a command's options and exit codes.
  -h, --help     this help
  -v, --version  the version of wsx
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === "-h" || name === "--help") {
    process.stdout.write(HELP);
    return ExitCode.OK;
  }
  if (name === "-v" || name === "--version") {
    process.stdout.write(`${version()}\n`);
    return ExitCode.OK;
  }
  if (name === "help") return rest[0] !== undefined && COMMANDS[rest[0]] !== undefined ? COMMANDS[rest[0]]!(["--help"]) : main(["--help"]);
  if (name === undefined) {
    process.stderr.write(`wsx: missing command (${Object.keys(COMMANDS).join(", ")}; see wsx --help)\n`);
    return ExitCode.USAGE;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    process.stderr.write(`wsx: unknown command '${name}' (commands: ${Object.keys(COMMANDS).join(", ")}; see wsx --help)\n`);
    return ExitCode.USAGE;
  }
  try {
    return await command(rest);
  } catch (error) {
    process.stderr.write(`wsx ${name}: ${describeError(error)}\n`);
    return exitCodeOf(error);
  }
}

/** Exit once what was written has been handed to the OS (pipes are asynchronous on some systems). */
function exit(code: number): void {
  process.stdout.write("", () => process.stderr.write("", () => process.exit(code)));
}

// A reader that went away (wsx connect ... | head -1) is not an error.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error: NodeJS.ErrnoException) => process.exit(error.code === "EPIPE" ? ExitCode.OK : ExitCode.ABNORMAL_CLOSE));
}
const crash = (error: unknown): void => {
  process.stderr.write(`wsx: ${describeError(error)}\n`);
  process.exit(exitCodeOf(error));
};
process.on("uncaughtException", crash);
process.on("unhandledRejection", crash);

main(process.argv.slice(2)).then(exit, crash);
