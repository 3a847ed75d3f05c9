/**
 * The runner's side of the control channel: start a child process, read
 * its first stdout line (a server's port), send it commands and await the
 * replies. Every child is remembered and killed by its PID when the runner
 * exits, fails or is interrupted.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";

const live = new Set<Child>();

export interface SpawnOptions {
  /** Name used in messages. */
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  /** Raise the soft open-file limit to this before exec (same PID: `sh -c 'ulimit -n N; exec ...'`). */
  fileLimit?: number;
  /** Forward the child's stderr to ours, prefixed with its name (default true). */
  stderr?: boolean;
  /** Pin the process to this CPU (`taskset -c`, which execs: same PID). */
  cpu?: number;
}

interface Pending {
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export class Child {
  readonly name: string;
  readonly process: ChildProcess;
  readonly pid: number;
  private readonly lines: string[] = [];
  private lineWaiter: ((line: string | null) => void) | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private exited = false;
  private readonly exitPromise: Promise<void>;
  private stderrTail = "";

  constructor(options: SpawnOptions) {
    this.name = options.name;
    let command = options.command;
    let args = options.args;
    if (options.cpu !== undefined) {
      args = ["-c", String(options.cpu), command, ...args];
      command = "taskset";
    }
    if (options.fileLimit !== undefined) {
      // exec keeps the PID, so the PID we sample is the benchmarked process itself.
      args = ["-c", `ulimit -n ${options.fileLimit} 2>/dev/null; exec "$0" "$@"`, command, ...args];
      command = "/bin/sh";
    }
    const child = spawn(command, args, {
      env: options.env ?? process.env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    if (child.pid === undefined) throw new Error(`${options.name}: could not start ${options.command}`);
    this.process = child;
    this.pid = child.pid;
    live.add(this);
    this.exitPromise = new Promise((resolve) => {
      child.once("exit", () => {
        this.exited = true;
        live.delete(this);
        for (const pending of this.pending.values()) {
          clearTimeout(pending.timer);
          pending.reject(new Error(`${this.name} exited${this.stderrTail ? `: ${this.stderrTail.trim()}` : ""}`));
        }
        this.pending.clear();
        this.lineWaiter?.(null);
        resolve();
      });
    });
    child.once("error", () => undefined);
    child.stdin!.on("error", () => undefined);
    createInterface({ input: child.stdout! }).on("line", (line) => this.onLine(line));
    const forward = options.stderr ?? true;
    createInterface({ input: child.stderr! }).on("line", (line) => {
      this.stderrTail = (this.stderrTail + line + "\n").slice(-2000);
      if (forward) process.stderr.write(`  [${this.name}] ${line}\n`);
    });
  }

  private onLine(line: string): void {
    if (line.startsWith("{")) {
      let message: { id?: number; ok?: boolean; result?: unknown; error?: string };
      try {
        message = JSON.parse(line);
      } catch {
        message = {};
      }
      if (typeof message.id === "number" && this.pending.has(message.id)) {
        const pending = this.pending.get(message.id)!;
        this.pending.delete(message.id);
        clearTimeout(pending.timer);
        if (message.ok) pending.resolve(message.result);
        else pending.reject(new Error(`${this.name}: ${message.error}`));
        return;
      }
    }
    if (this.lineWaiter !== null) {
      const waiter = this.lineWaiter;
      this.lineWaiter = null;
      waiter(line);
    } else {
      this.lines.push(line);
    }
  }

  /** The next non-reply line on stdout (a server prints its port first). */
  readLine(timeoutMs: number): Promise<string> {
    const queued = this.lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.exited) return Promise.reject(new Error(`${this.name} exited${this.stderrTail ? `: ${this.stderrTail.trim()}` : ""}`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.lineWaiter = null;
        reject(new Error(`${this.name}: no output within ${timeoutMs} ms`));
      }, timeoutMs);
      this.lineWaiter = (line) => {
        clearTimeout(timer);
        if (line === null) reject(new Error(`${this.name} exited${this.stderrTail ? `: ${this.stderrTail.trim()}` : ""}`));
        else resolve(line);
      };
    });
  }

  /** Send a command and wait for its reply. */
  request<T = unknown>(cmd: string, params: Record<string, unknown> = {}, timeoutMs = 10_000): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`${this.name} has exited`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${this.name}: no answer to ${cmd} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, timer });
      this.process.stdin!.write(`${JSON.stringify({ ...params, id, cmd })}\n`);
    });
  }

  get alive(): boolean {
    return !this.exited;
  }

  /** Kill by PID (SIGKILL) and wait for the exit. */
  async kill(): Promise<void> {
    if (this.exited) return;
    try {
      process.kill(this.pid, "SIGKILL");
    } catch {
      // already gone
    }
    await Promise.race([this.exitPromise, new Promise((resolve) => setTimeout(resolve, 2000))]);
  }

  /** Ask for a clean exit (profiles get written), then kill if it takes too long. */
  async stop(timeoutMs = 5000): Promise<void> {
    if (this.exited) return;
    this.request("exit", {}, timeoutMs).catch(() => undefined);
    await Promise.race([this.exitPromise, new Promise((resolve) => setTimeout(resolve, timeoutMs))]);
    await this.kill();
  }
}

/** Kill every child still running, by PID. Synchronous, for exit handlers. */
export function killAll(): void {
  for (const child of live) {
    try {
      process.kill(child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  live.clear();
}

const exitHooks: Array<() => void> = [];

/** Run `hook` (synchronously) when the runner exits, after the children are killed. */
export function atExit(hook: () => void): void {
  exitHooks.push(hook);
}

function runExitHooks(): void {
  for (const hook of exitHooks.splice(0)) {
    try {
      hook();
    } catch {
      // keep going
    }
  }
}

/** Kill children on exit, Ctrl-C, SIGTERM and crashes. */
export function installCleanup(): void {
  process.on("exit", () => {
    killAll();
    runExitHooks();
  });
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(signal, () => {
      killAll();
      process.stderr.write(`\nbench: ${signal}, children killed\n`);
      process.exit(130);
    });
  }
  process.on("uncaughtException", (error) => {
    killAll();
    process.stderr.write(`bench: ${error.stack ?? error}\n`);
    process.exit(1);
  });
  process.on("unhandledRejection", (error) => {
    killAll();
    process.stderr.write(`bench: ${(error as Error)?.stack ?? error}\n`);
    process.exit(1);
  });
}
