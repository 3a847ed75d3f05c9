/**
 * A throwaway `redis-server` on a free loopback port for the tests: no
 * persistence, stopped by its PID, restartable on the same port (to test
 * what the adapter does when Redis goes away and comes back).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { deadline } from "../helpers/net.js";

const READY = /Ready to accept connections/;
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 10_000;

/** Why the Redis tests cannot run here, or `false` when `redis-server` is installed. */
export function redisUnavailable(): string | false {
  const probe = spawnSync("redis-server", ["--version"], { encoding: "utf8" });
  if (probe.error !== undefined || probe.status !== 0) {
    return "redis-server is not installed (apt-get install redis-server; .ci/run installs it)";
  }
  return false;
}

/** A port that was free a moment ago (the OS picks it; nothing is listening on it now). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

export class RedisServer {
  private child: ChildProcess | null = null;
  private output = "";

  private constructor(readonly port: number) {}

  /** Start on a free port (a few attempts, in case another process takes the port in between). */
  static async start(): Promise<RedisServer> {
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const server = new RedisServer(await freePort());
      try {
        await server.startAgain();
        return server;
      } catch (error) {
        lastError = error;
        await server.stop();
      }
    }
    throw lastError;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** Start (again) on this server's port; resolves once Redis accepts connections. */
  async startAgain(): Promise<void> {
    if (this.child !== null) throw new Error("redis-server is already running");
    this.output = "";
    const child = spawn(
      "redis-server",
      ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--loglevel", "notice"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    this.child = child;
    const ready = new Promise<void>((resolve, reject) => {
      const watch = (text: string): void => {
        this.output += text;
        if (READY.test(this.output)) resolve();
      };
      child.stdout!.setEncoding("utf8").on("data", watch);
      child.stderr!.setEncoding("utf8").on("data", watch);
      child.once("error", reject);
      child.once("exit", (code, signal) => {
        if (this.child === child) this.child = null;
        reject(new Error(`redis-server exited (code ${code}, signal ${signal}) before it was ready:\n${this.output}`));
      });
    });
    await deadline(ready, START_TIMEOUT_MS, `redis-server on port ${this.port}`);
  }

  /** Stop by PID (SIGTERM, then SIGKILL if it lingers) and wait for the exit. */
  async stop(): Promise<void> {
    const child = this.child;
    if (child === null) return;
    this.child = null;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    process.kill(child.pid!, "SIGTERM");
    try {
      await deadline(exited, STOP_TIMEOUT_MS, "redis-server to stop");
    } catch {
      process.kill(child.pid!, "SIGKILL");
      await exited;
    }
  }
}
