/**
 * Programs run the way people run them, as child processes: the `wsx`
 * command (dist/src/cli/main.js) and the demo. A {@link Child} collects its
 * output, waits for a line, and is stopped by its PID (SIGTERM, then
 * SIGKILL if it lingers); {@link runToEnd} runs a command to completion.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { deadline } from "./net.js";

/** The repository root (tests run from dist/test/...). */
export const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
/** The compiled `wsx` command. */
export const WSX = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));

const STOP_TIMEOUT_MS = 5000;

/** The environment for a child: no colour unless asked, none of node:test's settings. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  delete env["NODE_TEST_CONTEXT"];
  return env;
}

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export class Child {
  stdout = "";
  stderr = "";
  readonly exited: Promise<Finished>;
  private readonly listeners = new Set<() => void>();

  constructor(readonly process: ChildProcess) {
    process.stdout?.setEncoding("utf8").on("data", (text: string) => {
      this.stdout += text;
      this.wake();
    });
    process.stderr?.setEncoding("utf8").on("data", (text: string) => {
      this.stderr += text;
      this.wake();
    });
    this.exited = new Promise((resolve) => {
      process.once("close", (code, signal) => {
        this.wake();
        resolve({ code, signal, stdout: this.stdout, stderr: this.stderr });
      });
    });
  }

  /** Start `node file args...`. */
  static node(file: string, args: string[], options: { env?: Record<string, string>; stdin?: "pipe" | "ignore" } = {}): Child {
    const child = spawn(process.execPath, [file, ...args], { env: childEnv(options.env), stdio: [options.stdin ?? "ignore", "pipe", "pipe"], cwd: ROOT });
    return new Child(child);
  }

  /** Start `wsx args...`. */
  static wsx(args: string[], options: { env?: Record<string, string>; stdin?: "pipe" | "ignore" } = {}): Child {
    return Child.node(WSX, args, options);
  }

  private wake(): void {
    for (const listener of this.listeners) listener();
  }

  get running(): boolean {
    return this.process.exitCode === null && this.process.signalCode === null;
  }

  output(): string {
    return `--- stdout\n${this.stdout}--- stderr\n${this.stderr}`;
  }

  /** Wait until stdout (or stderr) matches `pattern`; resolves with the match. */
  async waitFor(pattern: RegExp, what: string, ms = 10_000, stream: "stdout" | "stderr" = "stdout"): Promise<RegExpExecArray> {
    let wake: () => void = () => {};
    const found = new Promise<RegExpExecArray>((resolve, reject) => {
      wake = () => {
        const match = pattern.exec(this[stream]);
        if (match !== null) resolve(match);
        else if (!this.running) reject(new Error(`exited before ${what}\n${this.output()}`));
      };
      this.listeners.add(wake);
      wake();
    });
    try {
      return await deadline(found, ms, `${what}\n${this.output()}`);
    } finally {
      this.listeners.delete(wake);
    }
  }

  /** Send `signal` by PID and wait for the exit; SIGKILL if it has not exited within a few seconds. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<Finished> {
    const pid = this.process.pid;
    if (this.running && pid !== undefined) {
      process.kill(pid, signal);
      try {
        return await deadline(this.exited, STOP_TIMEOUT_MS, `process ${pid} to exit on ${signal}`);
      } catch {
        if (this.running) process.kill(pid, "SIGKILL");
      }
    }
    return this.exited;
  }
}

/** Run `wsx args...` to completion (killed by PID after `ms`), with `input` on stdin when given. */
export async function runWsx(args: string[], options: { input?: string; env?: Record<string, string>; ms?: number } = {}): Promise<Finished> {
  const child = Child.wsx(args, { env: options.env, stdin: options.input === undefined ? "ignore" : "pipe" });
  if (options.input !== undefined) child.process.stdin!.end(options.input);
  try {
    return await deadline(child.exited, options.ms ?? 15_000, `wsx ${args.join(" ")}\n${child.output()}`);
  } finally {
    await child.stop("SIGKILL");
  }
}

/** A running `wsx serve` and where it listens. */
export interface ServeProcess {
  child: Child;
  port: number;
  /** ws:// (or wss://) URL of `path`. */
  url(path?: string): string;
}

/** Start `wsx serve --port 0 args...` and wait until it listens. */
export async function startWsxServe(args: string[], env?: Record<string, string>): Promise<ServeProcess> {
  const child = Child.wsx(["serve", "--port", "0", ...args], { env });
  try {
    const match = await child.waitFor(/(wss?):\/\/127\.0\.0\.1:(\d+)\//, "wsx serve to listen");
    const scheme = match[1]!;
    const port = Number(match[2]);
    return { child, port, url: (path = "/") => `${scheme}://127.0.0.1:${port}${path}` };
  } catch (error) {
    await child.stop();
    throw error;
  }
}
