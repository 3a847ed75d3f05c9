/**
 * The Web IDL conversions the WebSocket interfaces need, done the way a
 * browser's bindings do them (https://webidl.spec.whatwg.org/#es-type-mapping),
 * and the DOMExceptions the standard throws.
 */

/** A `DOMException` with the standard's name ("SyntaxError", "InvalidStateError", ...). */
export function domException(name: string, message: string): DOMException {
  return new DOMException(message, name);
}

/**
 * DOMString / USVString: any value but a symbol becomes a string (a symbol is
 * a TypeError). Lone surrogates are left to the UTF-8 encoder, which turns
 * them into U+FFFD as USVString would.
 */
export function toDOMString(value: unknown): string {
  if (typeof value === "string") return value;
  if (typeof value === "symbol") throw new TypeError("cannot convert a Symbol to a string");
  return `${value as string}`;
}

/** `[Clamp] unsigned short`: NaN is 0, out of range values clamp, halves round to even. */
export function clampUnsignedShort(value: unknown): number {
  const number = toNumber(value);
  if (Number.isNaN(number)) return 0;
  const clamped = Math.min(Math.max(number, 0), 0xffff);
  const floor = Math.floor(clamped);
  const fraction = clamped - floor;
  if (fraction > 0.5) return floor + 1;
  if (fraction < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

/** `[EnforceRange] unsigned short`: NaN, infinities and values outside 0..65535 are TypeErrors. */
export function enforceUnsignedShort(value: unknown): number {
  const number = toNumber(value);
  if (!Number.isFinite(number)) throw new TypeError(`${String(number)} is not a finite number`);
  const integer = Math.trunc(number);
  if (integer < 0 || integer > 0xffff) throw new TypeError(`${integer} is outside the range of an unsigned short (0-65535)`);
  return integer === 0 ? 0 : integer;
}

function toNumber(value: unknown): number {
  if (typeof value === "number") return value;
  if (typeof value === "symbol" || typeof value === "bigint") throw new TypeError(`cannot convert a ${typeof value} to a number`);
  return Number(value);
}

/** `sequence<DOMString>`: an iterable object, each item converted; anything else is a TypeError. */
export function toSequence(value: unknown): string[] {
  const iterator = typeof value === "object" && value !== null ? (value as { [Symbol.iterator]?: unknown })[Symbol.iterator] : undefined;
  if (typeof iterator !== "function") throw new TypeError("protocols must be a sequence of strings");
  return Array.from(value as Iterable<unknown>, toDOMString);
}

/**
 * `(DOMString or sequence<DOMString>)`: an object with `Symbol.iterator` is a
 * sequence; anything else (null, a plain object) one string, as Web IDL's
 * union conversion falls back to the string type (`{}` is "[object Object]").
 */
export function toStringList(value: unknown): string[] {
  const iterable = typeof value === "object" && value !== null && typeof (value as { [Symbol.iterator]?: unknown })[Symbol.iterator] === "function";
  return iterable ? toSequence(value) : [toDOMString(value)];
}
