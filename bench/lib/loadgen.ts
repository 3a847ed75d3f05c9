/**
 * The runner's side of the load generator (bench/loadgen.c): build it with
 * the system's C compiler, start it, hand it the frames to send (files the
 * runner writes), and read its counters. The scenarios only see the typed
 * methods of {@link LoadGenerator}.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Child } from "./child.js";
import type { Traffic } from "./frames.js";
import type { Mark } from "./measure.js";
import { inflateMessage } from "./payloads.js";

/** The compiler, `$CC` or `cc`. */
function compiler(): string {
  return process.env["CC"] ?? "cc";
}

/**
 * Compiles `source` (bench/loadgen.c) into `outDir` and returns the
 * program's path. Throws with a message that says what to install when no
 * C compiler is there.
 */
export function buildLoadGenerator(source: string, outDir: string): string {
  const cc = compiler();
  const binary = join(outDir, "loadgen");
  const result = spawnSync(cc, ["-O2", "-o", binary, source], { encoding: "utf8", timeout: 60_000 });
  if ((result.error as NodeJS.ErrnoException | undefined)?.code === "ENOENT") {
    throw new Error(
      `the benchmark's load generator (bench/loadgen.c) is built with a C compiler, and "${cc}" was not found: ` +
        `install one (Debian: apt-get install gcc) or point CC at one`,
    );
  }
  if (result.error !== undefined) throw new Error(`${cc} failed on bench/loadgen.c: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${cc} could not build bench/loadgen.c:\n${result.stderr}`);
  return binary;
}

export interface LoadOptions {
  /** Pin to this CPU. */
  cpu?: number;
  /** Raise the open-file limit to this. */
  fileLimit?: number;
}

interface Endpoint {
  port: number;
  /** Connect to this Unix socket instead of TCP `port`. */
  socketPath?: string;
}

export interface EchoStarted {
  connected: number;
  failed: number;
  /** Bytes per message on the wire, client to server (frame headers included). */
  wireBytes: number;
  error?: string;
}

export interface Opened {
  opened: number;
  failed: number;
  /** Connections on which permessage-deflate was agreed. */
  compressed: number;
  ms: number;
  error?: string;
}

/** One load-generator process. */
export class LoadGenerator {
  readonly child: Child;
  /** Where the frame files it is handed live (removed with the process). */
  private readonly files: string;
  private fileCount = 0;

  constructor(binary: string, options: LoadOptions = {}) {
    this.files = mkdtempSync(join(tmpdir(), "wsx-bench-load-"));
    this.child = new Child({
      name: "load",
      command: binary,
      args: [],
      ...(options.cpu === undefined ? {} : { cpu: options.cpu }),
      ...(options.fileLimit === undefined ? {} : { fileLimit: options.fileLimit }),
    });
  }

  get pid(): number {
    return this.child.pid;
  }

  private file(bytes: Buffer): string {
    const path = join(this.files, `${this.fileCount++}.bin`);
    writeFileSync(path, bytes);
    return path;
  }

  /** The command parameters naming a traffic's files: frames, and the plain message when they are compressed. */
  private traffic(traffic: Traffic, key = "frames"): Record<string, string> {
    const out: Record<string, string> = { [key]: this.file(traffic.batch) };
    if (traffic.compressed) out["expected"] = this.file(traffic.expected);
    return out;
  }

  ping(): Promise<unknown> {
    return this.child.request("ping", {}, 10_000);
  }

  /** Open `connections` on `path`, then keep `traffic.window` messages in flight on each. */
  echo(endpoint: Endpoint & { path: string; connections: number; traffic: Traffic }): Promise<EchoStarted> {
    const { traffic, ...rest } = endpoint;
    return this.child.request("echo", { ...rest, ...this.traffic(traffic) }, 60_000);
  }

  /** `subscribers` connections on /sub, then one publisher on /pub keeping `traffic.window` messages in flight. */
  broadcast(endpoint: Endpoint & { subscribers: number; traffic: Traffic }): Promise<{ subscribed: number; failed: number; error?: string }> {
    const { traffic, ...rest } = endpoint;
    return this.child.request("broadcast", { ...rest, ...this.traffic(traffic) }, 120_000);
  }

  /** Open idle connections, `concurrency` handshakes at a time (`pause`: never read from them). */
  open(
    endpoint: Endpoint & { path: string; count: number; concurrency: number; deflate?: boolean; pause?: boolean },
    timeoutMs: number,
  ): Promise<Opened> {
    return this.child.request("open", { ...endpoint }, timeoutMs);
  }

  /** Send one message on every idle connection (`deflated` where permessage-deflate was agreed) and wait for every echo. */
  echoOnce(plain: Traffic, deflated: Traffic, timeoutMs: number): Promise<{ sent: number; echoed: number; mismatches: number; ms: number }> {
    return this.child.request(
      "echo-once",
      { ...this.traffic(plain), ...this.traffic(deflated, "deflatedFrames"), timeoutMs },
      timeoutMs + 10_000,
    );
  }

  mark(): Promise<Mark> {
    return this.child.request<Mark>("mark");
  }

  /**
   * Inflate the compressed first messages the load generator kept (one per
   * connection that got a compressed echo) and count those that differ from
   * `expected`. The load generator compares uncompressed ones itself.
   */
  async checkFirsts(expected: Buffer): Promise<number> {
    const file = join(this.files, "firsts.bin");
    await this.child.request("firsts", { file }, 30_000);
    const bytes = readFileSync(file);
    let mismatches = 0;
    for (let at = 0; at + 4 <= bytes.length; ) {
      const length = bytes.readUInt32LE(at);
      const payload = bytes.subarray(at + 4, at + 4 + length);
      at += 4 + length;
      try {
        if (!inflateMessage(payload).equals(expected)) mismatches++;
      } catch {
        mismatches++;
      }
    }
    return mismatches;
  }

  /** Drop every connection. */
  close(): Promise<unknown> {
    return this.child.request("close", {}, 10_000);
  }

  async kill(): Promise<void> {
    await this.child.kill();
    rmSync(this.files, { recursive: true, force: true });
  }
}
