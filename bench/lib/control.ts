/**
 * The child side of the benchmark's control channel: one JSON command per
 * line on stdin, one JSON reply per line on stdout. Every process the
 * runner starts (servers, load generator, clients) speaks it, so the runner
 * can ask for counters, a GC or a clean exit. When stdin closes (the runner
 * went away) the process exits: no orphan keeps running.
 */
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";

export type Command = { id?: number; cmd: string; [key: string]: unknown };
export type CommandHandler = (command: Command) => unknown;

/** The `run` command of a client process (bench/clients/): the echo traffic to keep up. */
export interface RunCommand {
  url: string;
  connections: number;
  window: number;
  size: number;
  /** Text messages of `size` characters instead of binary ones. */
  text: boolean;
}

/** Write one JSON line on stdout. */
export function emit(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/**
 * Answer commands with `handler` (sync or async). Built in: `gc` (when the
 * runtime exposes it), `heap` (V8 heap space sizes), `ping` and `exit`.
 */
export function serveCommands(handler: CommandHandler): void {
  const lines = createInterface({ input: process.stdin });
  lines.on("line", (line) => {
    let command: Command;
    try {
      command = JSON.parse(line) as Command;
    } catch {
      return;
    }
    void answer(command, handler);
  });
  lines.on("close", () => process.exit(0));
}

async function answer(command: Command, handler: CommandHandler): Promise<void> {
  const id = command.id;
  try {
    let result: unknown;
    switch (command.cmd) {
      case "ping":
        result = "pong";
        break;
      case "gc":
        result = collectGarbage();
        break;
      case "heap":
        result = heapSpaces();
        break;
      case "exit":
        emit({ id, ok: true, result: null });
        // Leave through process.exit so --cpu-prof writes its profile.
        setTimeout(() => process.exit(0), 10);
        return;
      default:
        result = await handler(command);
    }
    emit({ id, ok: true, result: result ?? null });
  } catch (error) {
    emit({ id, ok: false, error: error instanceof Error ? error.message : String(error) });
  }
}

/** Committed bytes of each V8 heap space (Node only; null elsewhere), to tell heap sizing from live data. */
function heapSpaces(): Record<string, number> | null {
  const v8 = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule?.("v8") as
    | { getHeapSpaceStatistics(): Array<{ space_name: string; space_size: number; space_used_size: number }> }
    | undefined;
  if (v8 === undefined) return null;
  const out: Record<string, number> = {};
  for (const space of v8.getHeapSpaceStatistics()) out[space.space_name] = space.space_size;
  return out;
}

/** A full collection if the runtime allows it (node --expose-gc, Bun.gc). */
function collectGarbage(): boolean {
  const g = globalThis as { gc?: () => void; Bun?: { gc(force: boolean): void } };
  if (g.Bun !== undefined) {
    g.Bun.gc(true);
    return true;
  }
  if (typeof g.gc === "function") {
    g.gc();
    return true;
  }
  return false;
}

/**
 * A client process of the benchmark (bench/clients/): `run` opens the
 * connections with `open`, which calls `received` once per echo and
 * returns how many connections opened; `mark` reports the echoes so far.
 */
export function serveEchoClient(open: (run: RunCommand, received: () => void) => Promise<number>): void {
  let messages = 0;
  const received = (): void => {
    messages++;
  };
  serveCommands(async (command) => {
    switch (command.cmd) {
      case "run":
        return { connected: await open(command as unknown as RunCommand, received) };
      case "mark":
        return { messages, time: performance.now() };
      default:
        throw new Error(`unknown command ${command.cmd}`);
    }
  });
}
