/** Readings taken around a measured window: CPU of the processes under test, this runner, the machine. */
import { performance } from "node:perf_hooks";
import type { Child } from "./child.js";
import { cpuMicros, faults, machineBusyMicros, rssBytes, syscalls } from "./proc.js";
import { sleep } from "./stats.js";

export const MiB = 1024 * 1024;

/** CPU readings at one instant: the processes under test, this runner, the whole machine. */
export interface Sample {
  wall: number;
  machine: number;
  own: number;
  pids: number[];
}

export function sample(pids: number[]): Sample {
  const own = process.cpuUsage();
  return { wall: performance.now(), machine: machineBusyMicros(), own: own.user + own.system, pids: pids.map(cpuMicros) };
}

/** CPU µs used by process `index` of the sample between a and b. */
export function used(a: Sample, b: Sample, index: number): number {
  return b.pids[index]! - a.pids[index]!;
}

/** % of one core process `index` used between a and b. */
export function percent(a: Sample, b: Sample, index: number): number {
  return (100 * used(a, b, index)) / ((b.wall - a.wall) * 1000);
}

/** % of one core used by other processes on the machine (not ours, not this runner) between a and b. */
export function otherLoad(a: Sample, b: Sample): number {
  let ours = b.own - a.own;
  for (let i = 0; i < a.pids.length; i++) ours += used(a, b, i);
  const other = b.machine - a.machine - ours;
  return Math.max(0, (100 * other) / ((b.wall - a.wall) * 1000));
}

/** The load generator's counters (its `mark` command). */
export interface Mark {
  messages: number;
  published: number;
  failures: number;
  mismatches: number;
  /** Compressed first messages kept for the runner to check (see LoadGenerator.checkFirsts). */
  kept: number;
  open: number;
  cpuMicros: number;
  time: number;
}

export interface Settled {
  /** RSS after a full GC. */
  rss: number;
  /** The same without V8's young generation (RSS when the runtime does not say). */
  held: number;
}

/**
 * RSS after a full GC, with and without V8's young generation. A burst of
 * handshakes makes every Node server grow its young generation to the
 * maximum (32 MiB, ~2.3 KB per connection here) and V8 gives it back only
 * after seconds of quiet: that is allocation-rate sizing, not memory held by
 * the connections, so the per-connection figures leave it out.
 */
export async function settle(server: Child): Promise<Settled> {
  await sleep(300);
  await server.request("gc", {}, 10_000);
  await sleep(200);
  const rss = rssBytes(server.pid);
  const spaces = await server.request<Record<string, number> | null>("heap", {}, 10_000);
  return { rss, held: rss - (spaces?.["new_space"] ?? 0) };
}

/** What one measured window of traffic gave: CPU samples, the load generator's counters, the server's faults and RSS. */
export interface Window {
  s0: Sample;
  s1: Sample;
  mark0: Mark;
  mark1: Mark;
  /** Server minor page faults and kernel CPU µs over the window. */
  faults: number;
  systemMicros: number;
  /** Server read and write system calls over the window. */
  reads: number;
  writes: number;
  /** Server RSS at the end. */
  rss: number;
  seconds: number;
}

/**
 * Warm up, then read the server (index 0 of the samples) and the load
 * generator around one measured window of `measureMs`.
 */
export async function measureWindow(serverPid: number, load: { pid: number; mark(): Promise<Mark> }, warmupMs: number, measureMs: number): Promise<Window> {
  await sleep(warmupMs);
  const pids = [serverPid, load.pid];
  const faults0 = faults(serverPid);
  const calls0 = syscalls(serverPid);
  const s0 = sample(pids);
  const mark0 = await load.mark();
  await sleep(measureMs);
  const s1 = sample(pids);
  const mark1 = await load.mark();
  const faults1 = faults(serverPid);
  const calls1 = syscalls(serverPid);
  return {
    s0,
    s1,
    mark0,
    mark1,
    faults: faults1.minor - faults0.minor,
    systemMicros: faults1.systemMicros - faults0.systemMicros,
    reads: calls1.reads - calls0.reads,
    writes: calls1.writes - calls0.writes,
    rss: rssBytes(serverPid),
    seconds: (mark1.time - mark0.time) / 1000,
  };
}
