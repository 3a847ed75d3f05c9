/** Readings of another process from /proc (Linux), and facts about this machine. */
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { cpus } from "node:os";

let ticksPerSecond: number | undefined;

/** Clock ticks per second of utime/stime in /proc/<pid>/stat (`getconf CLK_TCK`). */
export function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** CPU time (user + system, every thread) a process has used so far, in microseconds. */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Field 2 (comm) may hold spaces and parentheses: count fields after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state); utime is field 14, stime field 15.
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1e6) / clockTicks();
}

/** Minor page faults of a process so far, and its CPU time split into user and kernel (µs). */
export function faults(pid: number): { minor: number; userMicros: number; systemMicros: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3; minflt is field 10, utime 14, stime 15.
  const tick = 1e6 / clockTicks();
  return { minor: Number(fields[7]), userMicros: Number(fields[11]) * tick, systemMicros: Number(fields[12]) * tick };
}

/**
 * CPU time the main thread of a process has used so far, in microseconds, to the
 * nanosecond (/proc/<pid>/task/<pid>/schedstat), or null where the kernel does not
 * report it. The rest of {@link cpuMicros} is the process's other threads: for
 * Node, mostly V8's garbage-collector helpers.
 */
export function mainThreadMicros(pid: number): number | null {
  return threadMicros(pid, String(pid));
}

/** One thread's CPU time so far in microseconds (its schedstat), or null if it cannot be read. */
function threadMicros(pid: number, task: string): number | null {
  try {
    const ns = Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, "utf8").split(" ", 1)[0]);
    return Number.isFinite(ns) ? ns / 1000 : null;
  } catch {
    return null;
  }
}

/**
 * CPU time every thread of a process has used so far, and its main thread's, in
 * microseconds to the nanosecond (/proc/<pid>/task/<tid>/schedstat), or null where
 * the kernel does not report it. Finer than {@link cpuMicros} (clock ticks).
 */
export function scheduledMicros(pid: number): { all: number; main: number } | null {
  const main = mainThreadMicros(pid);
  if (main === null) return null;
  let all = 0;
  try {
    // A thread that ends between the listing and its read counts as nothing.
    for (const task of readdirSync(`/proc/${pid}/task`)) all += threadMicros(pid, task) ?? 0;
  } catch {
    return null;
  }
  return { all, main };
}

/**
 * Read and write system calls a process has made so far (/proc/<pid>/io: syscr
 * counts read, recv and readv; syscw write, send and writev), or zeros where the
 * kernel does not say.
 */
export function syscalls(pid: number): { reads: number; writes: number } {
  try {
    const io = readFileSync(`/proc/${pid}/io`, "utf8");
    return { reads: Number(/^syscr:\s+(\d+)/m.exec(io)?.[1] ?? 0), writes: Number(/^syscw:\s+(\d+)/m.exec(io)?.[1] ?? 0) };
  } catch {
    return { reads: 0, writes: 0 };
  }
}

/** Resident set size of a process in bytes (VmRSS). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return match === null ? 0 : Number(match[1]) * 1024;
}

export function cpuModel(): string {
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"));
    if (match !== null) return match[1]!.trim();
  } catch {
    // fall through
  }
  return cpus()[0]?.model ?? "unknown";
}

/** The hard limit on open files, which children may raise their soft limit to. */
export function hardFileLimit(): number {
  try {
    const out = execFileSync("/bin/sh", ["-c", "ulimit -Hn"], { encoding: "utf8" }).trim();
    return out === "unlimited" ? 1 << 20 : Number(out);
  } catch {
    return 1024;
  }
}

/** CPU time every CPU of the machine spent busy so far (all processes, kernel included), in microseconds. */
export function machineBusyMicros(): number {
  const line = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!;
  // cpu user nice system idle iowait irq softirq steal ...
  const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
  const ticks = user! + nice! + system! + irq! + softirq! + (steal ?? 0);
  return (ticks * 1e6) / clockTicks();
}
