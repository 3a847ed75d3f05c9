/**
 * A program the tests run in the background (a proxy server, a wsx server
 * in its own process): started with its output collected, waited for until
 * it prints a line or accepts TCP connections, and stopped by its PID
 * (SIGTERM, then SIGKILL if it lingers). Also: whether a system program is
 * installed, so tests that need it are skipped with the reason.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { connect as netConnect } from "node:net";
import { deadline, delay, LOOPBACK } from "./net.js";

const STOP_TIMEOUT_MS = 5000;

/** Why `command` cannot run here (with the package that brings it), or false when it is installed. */
export function programUnavailable(command: string, debianPackage: string, versionArgs = ["--version"]): string | false {
  const probe = spawnSync(command, versionArgs, { encoding: "utf8" });
  if (probe.error !== undefined) return `${command} is not installed (apt-get install ${debianPackage}; .ci/run installs it)`;
  return false;
}

export class Daemon {
  output = "";
  readonly exited: Promise<void>;
  private readonly waiters = new Set<() => void>();

  private constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    const collect = (text: string): void => {
      this.output += text;
      for (const wake of this.waiters) wake();
    };
    child.stdout?.setEncoding("utf8").on("data", collect);
    child.stderr?.setEncoding("utf8").on("data", collect);
    this.exited = new Promise((resolve) => {
      child.once("exit", () => {
        for (const wake of this.waiters) wake();
        resolve();
      });
      child.once("error", (error) => {
        this.output += `\n${String(error)}`;
        resolve();
      });
    });
  }

  /** Start `command args...` with NODE_TEST_CONTEXT removed (a node child would report to our runner). */
  static start(command: string, args: string[], env: Record<string, string> = {}): Daemon {
    const childEnv: NodeJS.ProcessEnv = { ...process.env, ...env };
    delete childEnv["NODE_TEST_CONTEXT"];
    return new Daemon(command, spawn(command, args, { env: childEnv, stdio: ["ignore", "pipe", "pipe"] }));
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Wait until the output matches `pattern`; resolves with the match. */
  async waitFor(pattern: RegExp, ms = 10_000): Promise<RegExpExecArray> {
    let wake = (): void => {};
    const found = new Promise<RegExpExecArray>((resolve, reject) => {
      wake = () => {
        const match = pattern.exec(this.output);
        if (match !== null) resolve(match);
        else if (!this.running) reject(new Error(`${this.name} exited before printing ${pattern}:\n${this.output}`));
      };
      this.waiters.add(wake);
      wake();
    });
    try {
      return await deadline(found, ms, `${this.name} to print ${pattern}\n${this.output}`);
    } finally {
      this.waiters.delete(wake);
    }
  }

  /** Wait until `port` on the loopback accepts a TCP connection (bounded polling). */
  async waitForPort(port: number, attempts = 200): Promise<void> {
    for (let i = 0; i < attempts; i++) {
      if (!this.running) throw new Error(`${this.name} exited before listening on ${port}:\n${this.output}`);
      if (await accepts(port)) return;
      await delay(25);
    }
    throw new Error(`${this.name} never listened on ${port}:\n${this.output}`);
  }

  /** Stop by PID: `signal`, then SIGKILL if it has not exited within a few seconds. */
  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
    const pid = this.child.pid;
    if (!this.running || pid === undefined) return this.exited;
    process.kill(pid, signal);
    try {
      await deadline(this.exited, STOP_TIMEOUT_MS, `${this.name} (${pid}) to exit on ${signal}`);
    } catch {
      if (this.running) process.kill(pid, "SIGKILL");
      await this.exited;
    }
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect(port, LOOPBACK);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}
