/**
 * Command-line parsing shared by the commands: `util.parseArgs` with its
 * errors turned into one-line usage errors, and readers for the values
 * options take (counts, seconds, byte sizes, files).
 */
import { readFileSync } from "node:fs";
import { parseArgs, type ParseArgsConfig } from "node:util";
import { usageError } from "./exit.js";

export type OptionSpecs = NonNullable<ParseArgsConfig["options"]>;

/** The values parseArgs reads: a string or boolean per option, arrays for repeatable ones. */
export type OptionValues = Record<string, string | boolean | Array<string | boolean> | undefined>;

export interface Parsed {
  values: OptionValues;
  positionals: string[];
}

/** Parse `args` strictly against `options`; any mistake is a usage error naming the command's help. */
export function parseCommandLine(command: string, args: string[], options: OptionSpecs, maxPositionals: number): Parsed {
  let parsed: Parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true }) as Parsed;
  } catch (error) {
    // parseArgs' messages are one sentence; its hints about "--" are noise here.
    const message = (error as Error).message.split(". To specify")[0]!;
    throw usageError(`${message} (see wsx ${command} --help)`);
  }
  if (parsed.positionals.length > maxPositionals) {
    throw usageError(`unexpected argument '${parsed.positionals[maxPositionals]}' (see wsx ${command} --help)`);
  }
  return parsed;
}

/**
 * A command's arguments, or null when `--help` was asked for: the help is
 * then printed on stdout and the command has nothing more to do.
 */
export function commandLine(command: string, args: string[], options: OptionSpecs, help: string, maxPositionals: number): Parsed | null {
  const parsed = parseCommandLine(command, args, { ...options, help: { type: "boolean", short: "h" } }, maxPositionals);
  if (parsed.values["help"] !== true) return parsed;
  process.stdout.write(help);
  return null;
}

/** The URL argument of `command`, with ws:// put in front when it has no scheme (wsx connect 127.0.0.1:8080). */
export function urlArgument(command: string, positionals: string[]): string {
  const target = positionals[0];
  if (target === undefined) throw usageError(`missing URL (see wsx ${command} --help)`);
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(target) ? target : `ws://${target}`;
}

/** A string option's value (the last one when repeated). */
export function stringOption(values: OptionValues, name: string): string | undefined {
  const value = values[name];
  if (Array.isArray(value)) return value.length > 0 ? String(value[value.length - 1]) : undefined;
  return typeof value === "string" ? value : undefined;
}

/** Every value of a repeatable string option, in order. */
export function listOption(values: OptionValues, name: string): string[] {
  const value = values[name];
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

export function flag(values: OptionValues, name: string): boolean {
  return values[name] === true;
}

/** A whole number within bounds, from option `name`. */
export function integerOption(values: OptionValues, name: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const text = stringOption(values, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(value) || value < min || value > max) {
    throw usageError(`--${name} must be a whole number from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : " up"}, not '${text}'`);
  }
  return value;
}

/** The longest delay a Node timer takes (longer ones fire at once). */
const MAX_TIMER_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/** A duration in seconds (decimals allowed) as milliseconds. */
export function secondsOption(values: OptionValues, name: string, fallbackMs: number, minSeconds = 0): number {
  const text = stringOption(values, name);
  if (text === undefined) return fallbackMs;
  const seconds = Number(text);
  if (text.trim() === "" || !Number.isFinite(seconds) || seconds < minSeconds || seconds > MAX_TIMER_SECONDS) {
    const range = minSeconds > 0 ? `above ${minSeconds}` : "from 0";
    throw usageError(`--${name} must be a number of seconds ${range} up to ${MAX_TIMER_SECONDS}, not '${text}'`);
  }
  return seconds * 1000;
}

const SIZE_UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1 << 20, mb: 1 << 20, mib: 1 << 20, g: 1 << 30, gb: 1 << 30, gib: 1 << 30 };

/** A byte count: 4096, 64k, 1m, 16MiB (units are powers of 1024). */
export function parseSize(text: string): number | null {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  if (match === null) return null;
  const unit = SIZE_UNITS[match[2]!.toLowerCase()];
  if (unit === undefined) return null;
  const bytes = Math.round(Number(match[1]) * unit);
  return Number.isSafeInteger(bytes) ? bytes : null;
}

/** A byte-size option within bounds. */
export function sizeOption(values: OptionValues, name: string, fallback: number | undefined, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const text = stringOption(values, name);
  if (text === undefined) return fallback;
  const bytes = parseSize(text);
  if (bytes === null || bytes < min || bytes > max) {
    throw usageError(`--${name} must be a size in bytes (like 4096, 64k, 1m) from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : " up"}, not '${text}'`);
  }
  return bytes;
}

/** One of a fixed set of words. */
export function choiceOption<T extends string>(values: OptionValues, name: string, choices: readonly T[], fallback: T): T {
  const text = stringOption(values, name);
  if (text === undefined) return fallback;
  if (!(choices as readonly string[]).includes(text)) throw usageError(`--${name} must be one of ${choices.join(", ")}, not '${text}'`);
  return text as T;
}

/** The contents of a file named by an option, or a one-line usage error. */
export function readOptionFile(name: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    throw usageError(`--${name}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}
