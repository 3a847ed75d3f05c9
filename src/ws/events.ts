/**
 * The browser-style side of `ws`'s WebSocket: event objects, and listeners
 * added with `addEventListener` or the `onopen`/`onmessage`/`onclose`/
 * `onerror` attributes, laid over the EventEmitter events.
 */
import type { EventEmitter } from "node:events";

/** A plain event: its type and the WebSocket it happened on. */
export class Event {
  target: unknown = null;
  constructor(readonly type: string) {}
}

/** A message: text as a string, binary data as `binaryType` says. */
export class MessageEvent extends Event {
  readonly data: unknown;
  constructor(type: string, init: { data?: unknown } = {}) {
    super(type);
    this.data = init.data ?? null;
  }
}

/** The connection closed. */
export class CloseEvent extends Event {
  readonly code: number;
  readonly reason: string;
  readonly wasClean: boolean;
  constructor(type: string, init: { code?: number; reason?: string; wasClean?: boolean } = {}) {
    super(type);
    this.code = init.code ?? 0;
    this.reason = init.reason ?? "";
    this.wasClean = init.wasClean ?? false;
  }
}

/** An error. */
export class ErrorEvent extends Event {
  readonly error: unknown;
  readonly message: string;
  constructor(type: string, init: { error?: unknown; message?: string } = {}) {
    super(type);
    this.error = init.error ?? null;
    this.message = init.message ?? "";
  }
}

/** A listener function or an object with `handleEvent`, as in the DOM. */
export type EventListenerLike<E> =
  | ((event: E) => void)
  | {
      /** Called with the event, `this` being the listener object. */
      handleEvent(event: E): void;
    };

/** What the wrappers need from the WebSocket they are attached to. */
interface Host extends EventEmitter {
  /** Whether both close frames were exchanged (the CloseEvent's `wasClean`). */
  readonly closedCleanly: boolean;
}

/** The EventEmitter listener behind an event listener, tagged with what it wraps. */
interface Wrapper {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  (this: Host, ...args: any[]): void;
  [LISTENER]: unknown;
  [ATTRIBUTE]: boolean;
}

const LISTENER = Symbol("wsx.ws.listener");
const ATTRIBUTE = Symbol("wsx.ws.onAttribute");

function call(listener: EventListenerLike<never>, target: unknown, event: Event): void {
  event.target = target;
  if (typeof listener === "function") listener.call(target, event as never);
  else listener.handleEvent(event as never);
}

function wrap(type: string, listener: EventListenerLike<never>): Wrapper | null {
  let wrapper: (this: Host, ...args: never[]) => void;
  switch (type) {
    case "message":
      wrapper = function (this: Host, data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) {
        call(listener, this, new MessageEvent("message", { data: isBinary ? data : String(data) }));
      };
      break;
    case "close":
      wrapper = function (this: Host, code: number, reason: Buffer) {
        call(listener, this, new CloseEvent("close", { code, reason: reason.toString(), wasClean: this.closedCleanly }));
      };
      break;
    case "error":
      wrapper = function (this: Host, error: Error) {
        call(listener, this, new ErrorEvent("error", { error, message: error.message }));
      };
      break;
    case "open":
      wrapper = function (this: Host) {
        call(listener, this, new Event("open"));
      };
      break;
    default:
      return null;
  }
  return wrapper as unknown as Wrapper;
}

/** `addEventListener` for open, message, close and error (other types are ignored, as `ws` does). */
export function addEventListener(host: Host, type: string, listener: EventListenerLike<never>, options: { once?: boolean } = {}, attribute = false): void {
  if (!attribute) {
    // The same listener is added once (DOM semantics).
    for (const existing of host.listeners(type) as Wrapper[]) {
      if (existing[LISTENER] === listener && !existing[ATTRIBUTE]) return;
    }
  }
  const wrapper = wrap(type, listener);
  if (wrapper === null) return;
  wrapper[LISTENER] = listener;
  wrapper[ATTRIBUTE] = attribute;
  if (options.once === true) host.once(type, wrapper);
  else host.on(type, wrapper);
}

export function removeEventListener(host: Host, type: string, listener: EventListenerLike<never>): void {
  for (const existing of host.listeners(type) as Wrapper[]) {
    if (existing[LISTENER] === listener && !existing[ATTRIBUTE]) {
      host.removeListener(type, existing);
      return;
    }
  }
}

/** The handler set through `on<type>`, or null. */
export function getAttribute(host: Host, type: string): unknown {
  for (const existing of host.listeners(type) as Wrapper[]) if (existing[ATTRIBUTE]) return existing[LISTENER];
  return null;
}

/** Set `on<type>`: replaces the previous handler; a non-function clears it. */
export function setAttribute(host: Host, type: string, handler: unknown): void {
  for (const existing of host.listeners(type) as Wrapper[]) {
    if (existing[ATTRIBUTE]) {
      host.removeListener(type, existing);
      break;
    }
  }
  if (typeof handler === "function") addEventListener(host, type, handler as EventListenerLike<never>, {}, true);
}
