/**
 * Options objects checked against what an entry point accepts, once, when
 * they are given: a name it does not know (a typo such as `maxFrameSzie`)
 * is refused with UsageError `UNKNOWN_OPTION` naming the nearest known
 * option, and a value of the wrong kind with `INVALID_OPTION`, instead of
 * being silently ignored or used as something else. `undefined` always
 * means "not set". Nested objects handed to another API as they are (the
 * `tls` options, for node:tls) are checked to be objects, not looked into.
 */
import { UsageError } from "./errors.js";

/** What one option accepts. */
export interface OptionRule {
  /** Said in the error, after "must be". */
  readonly expected: string;
  readonly test: (value: unknown) => boolean;
}

/**
 * A rule for every option of `T`, by name: `null` for an option whose own
 * resolver checks it (with its own error code). Typed so that adding an
 * option to `T` without a rule, or a rule without an option, does not compile.
 */
export type OptionRules<T> = { readonly [K in keyof T]-?: OptionRule | null };

function rule(expected: string, test: (value: unknown) => boolean): OptionRule {
  return { expected, test };
}

const isCount = (value: unknown): boolean => typeof value === "number" && Number.isSafeInteger(value) && value >= 0;

/** Rules shared by every entry point. */
export const Rules = {
  boolean: rule("true or false", (value) => typeof value === "boolean"),
  string: rule("a string", (value) => typeof value === "string"),
  nonEmptyString: rule("a non-empty string", (value) => typeof value === "string" && value !== ""),
  function: rule("a function", (value) => typeof value === "function"),
  object: rule("an object", (value) => typeof value === "object" && value !== null),
  /** A non-negative integer. */
  count: rule("a non-negative integer", isCount),
  /** An integer >= 1. */
  positiveInteger: rule("an integer >= 1", (value) => isCount(value) && (value as number) >= 1),
  /** A finite number of milliseconds, 0 included. */
  milliseconds: rule("a finite number of ms >= 0", (value) => typeof value === "number" && Number.isFinite(value) && value >= 0),
  /** A timer's delay: ms > 0 that setTimeout can wait (at most 2^31 - 1). */
  delay: rule("a number of ms > 0 and at most 2147483647", (value) => typeof value === "number" && value > 0 && value <= 2 ** 31 - 1),
  /** A TCP port. */
  port: rule("an integer from 0 to 65535", (value) => isCount(value) && (value as number) <= 65535),
  /** One of the given values. */
  oneOf(...values: readonly unknown[]): OptionRule {
    return rule(`one of ${values.map((v) => JSON.stringify(v)).join(", ")}`, (value) => values.includes(value));
  },
  /** Any of the given rules. */
  either(...rules: readonly OptionRule[]): OptionRule {
    return rule(rules.map((r) => r.expected).join(" or "), (value) => rules.some((r) => r.test(value)));
  },
  /** An array whose items all pass `item`. */
  arrayOf(item: OptionRule): OptionRule {
    return rule(`an array of ${item.expected.replace(/^an? /, "")}s`, (value) => Array.isArray(value) && value.every((v) => item.test(v)));
  },
} as const;

/**
 * The rules of one entry point, ready to check options objects against
 * (names are looked up in a Map: the check costs about a tenth of a
 * microsecond for a handful of options, cheap enough for one per connection).
 *
 * @example
 * ```ts
 * import { OptionTable, Rules } from "wsx/core";
 * const table = new OptionTable<{ size?: number; name?: string }>({ size: Rules.count, name: Rules.string });
 * table.check({ size: 3 }, "demo()"); // fine
 * try {
 *   table.check({ sise: 3 } as never, "demo()");
 * } catch (error) {
 *   console.log((error as Error).message); // demo() has no option "sise" (did you mean "size"?)
 * }
 * ```
 */
export class OptionTable<T> {
  private readonly byName: Map<string, OptionRule | null>;
  /** Frozen options objects that passed: they cannot change, so they are not checked again. */
  private readonly checkedFrozen = new WeakSet<object>();

  constructor(readonly rules: OptionRules<T>) {
    this.byName = new Map(Object.entries(rules) as Array<[string, OptionRule | null]>);
  }

  /**
   * Check `options` (an object, or undefined for none). Throws UsageError
   * `UNKNOWN_OPTION` for a name without a rule and `INVALID_OPTION` for a
   * value its rule refuses; `where` names the entry point in the message
   * (`"connect()"`).
   */
  check(options: T | undefined, where: string): void {
    if (options === undefined || this.checkedFrozen.has(options as object)) return;
    if (typeof options !== "object" || options === null || Array.isArray(options)) {
      throw new UsageError("INVALID_OPTION", `${where} options must be an object, got ${describeValue(options)}`);
    }
    for (const name in options) {
      const check = this.byName.get(name);
      if (check === undefined) {
        if (!Object.hasOwn(options, name)) continue; // inherited: not an option given
        const nearest = nearestName(name, [...this.byName.keys()]);
        const hint = nearest === null ? "" : ` (did you mean "${nearest}"?)`;
        throw new UsageError("UNKNOWN_OPTION", `${where} has no option "${name}"${hint}`);
      }
      const value = (options as Record<string, unknown>)[name];
      if (value === undefined || check === null) continue;
      if (!check.test(value)) throw new UsageError("INVALID_OPTION", `${where}: ${name} must be ${check.expected}, got ${describeValue(value)}`);
    }
    // A frozen object cannot change: one check is enough however often it is given (a server's per-connection options).
    if (Object.isFrozen(options)) this.checkedFrozen.add(options);
  }
}

/** Check `options` against `table` (see {@link OptionTable.check}). */
export function checkOptions<T>(options: T | undefined, table: OptionTable<T>, where: string): void {
  table.check(options, where);
}

/** A value as an error message shows it: short, with its kind. */
export function describeValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  if (typeof value === "function") return "a function";
  if (value === null || typeof value !== "object") return String(value);
  if (Array.isArray(value)) return "an array";
  const name = (value as object).constructor?.name;
  return name !== undefined && name !== "Object" ? `a ${name}` : "an object";
}

/**
 * The candidate closest to `name` (ASCII case ignored), if it is close
 * enough to be what was meant: at most a third of its letters differ.
 */
export function nearestName(name: string, candidates: readonly string[]): string | null {
  const wanted = name.toLowerCase();
  let best: string | null = null;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const distance = editDistance(wanted, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(wanted.length / 3)) ? best : null;
}

/** Levenshtein distance, counting a swap of two neighbours as one edit (typos are often swaps). */
function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[] = new Array<number>(rows * cols);
  for (let i = 0; i < rows; i++) d[i * cols] = i;
  for (let j = 0; j < cols; j++) d[j] = j;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(d[(i - 1) * cols + j]! + 1, d[i * cols + j - 1]! + 1, d[(i - 1) * cols + j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, d[(i - 2) * cols + j - 2]! + 1);
      d[i * cols + j] = best;
    }
  }
  return d[rows * cols - 1]!;
}

/** UsageError `INVALID_DATA`: `where` was handed something other than `expected` to send or read. */
export function invalidData(where: string, expected: string, value: unknown): UsageError {
  return new UsageError("INVALID_DATA", `${where} takes ${expected}, got ${describeValue(value)}`);
}
