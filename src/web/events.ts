/**
 * The events a WebSocket fires, and `on<event>` attributes with the HTML
 * standard's event handler semantics, on Node's own EventTarget.
 */
import type { MessagePort } from "node:worker_threads";

/** What {@link CloseEvent}'s constructor takes. */
export interface CloseEventInit {
  bubbles?: boolean;
  cancelable?: boolean;
  composed?: boolean;
  wasClean?: boolean;
  code?: number;
  reason?: string;
}

/**
 * The `close` event: how the connection ended
 * (https://websockets.spec.whatwg.org/#the-closeevent-interface). Node 20
 * has no global CloseEvent; where the runtime has one, wsx/web fires and
 * exports that instead.
 */
class WsxCloseEvent extends Event {
  readonly #wasClean: boolean;
  readonly #code: number;
  readonly #reason: string;

  constructor(type: string, init: CloseEventInit = {}) {
    super(type, init);
    this.#wasClean = Boolean(init.wasClean ?? false);
    this.#code = init.code === undefined ? 0 : Number(init.code) & 0xffff;
    this.#reason = init.reason === undefined ? "" : String(init.reason);
  }

  /** Whether the closing handshake completed before the TCP connection closed. */
  get wasClean(): boolean {
    return this.#wasClean;
  }
  /** The close code the server sent (1005 if its close frame had none, 1006 if none came). */
  get code(): number {
    return this.#code;
  }
  /** The close reason the server sent. */
  get reason(): string {
    return this.#reason;
  }
  get [Symbol.toStringTag](): string {
    return "CloseEvent";
  }
}
Object.defineProperty(WsxCloseEvent, "name", { value: "CloseEvent" });

/** The CloseEvent class: the runtime's own where it has one (Node 23+), else wsx's. */
export const CloseEvent: typeof WsxCloseEvent = (globalThis as { CloseEvent?: typeof WsxCloseEvent }).CloseEvent ?? WsxCloseEvent;
export type CloseEvent = WsxCloseEvent;

/**
 * The `message` event a WebSocket fires. To the application it is the
 * runtime's MessageEvent (`instanceof MessageEvent`, `constructor`, the
 * interface's read-only attributes: `data`, `origin`, `lastEventId` "",
 * `source` null, `ports` a frozen empty array, and the browser's
 * `[object MessageEvent]` tag); only `Object.getPrototypeOf(event)` is this
 * class's prototype. It skips what the generic constructor does for every
 * event (an init dictionary read with defaults, a ports array copied),
 * which cost a small received message nearly as much as its dispatch.
 */
export class WebSocketMessageEvent extends Event {
  readonly #data: unknown;
  readonly #origin: string;
  #ports: readonly MessagePort[] | undefined;

  constructor(data: unknown, origin: string) {
    super("message");
    this.#data = data;
    this.#origin = origin;
  }

  /** The message: a string, or binary data as `binaryType` says. */
  get data(): unknown {
    return this.#data;
  }
  /** The origin of the WebSocket's URL. */
  get origin(): string {
    return this.#origin;
  }
  /** Always "" for a WebSocket message. */
  get lastEventId(): string {
    return "";
  }
  /** Always null for a WebSocket message. */
  get source(): null {
    return null;
  }
  /** Always empty for a WebSocket message (one frozen array per event, made when first read). */
  get ports(): readonly MessagePort[] {
    return (this.#ports ??= Object.freeze([]));
  }
  get [Symbol.toStringTag](): string {
    return "MessageEvent";
  }
}
Object.setPrototypeOf(WebSocketMessageEvent.prototype, MessageEvent.prototype);
Object.defineProperty(WebSocketMessageEvent.prototype, "constructor", { value: MessageEvent, writable: true, enumerable: false, configurable: true });
// Web IDL attributes are enumerable accessors, as on MessageEvent.prototype.
for (const name of ["data", "origin", "lastEventId", "source", "ports"]) {
  Object.defineProperty(WebSocketMessageEvent.prototype, name, { enumerable: true });
}

/** A value `on<event>` accepts: a function, or null. */
export type EventHandler<E extends Event = Event> = ((this: EventTarget, event: E) => unknown) | null;

/** One `on<event>` attribute of one target: its value and the listener registered for it. */
interface HandlerSlot {
  value: object | null;
  listener: ((event: Event) => void) | null;
}

/**
 * Event handler attributes as HTML defines them: the first non-null
 * assignment registers a listener at that point in the listener list;
 * later assignments replace the value in place (the position is kept);
 * null removes the listener; values that are not objects are treated as
 * null. A non-callable object is kept, and calling it throws a TypeError,
 * reported like any listener's exception.
 */
export class EventHandlers {
  private readonly slots = new Map<string, HandlerSlot>();

  constructor(private readonly target: EventTarget) {}

  get(type: string): object | null {
    return this.slots.get(type)?.value ?? null;
  }

  set(type: string, value: unknown): void {
    const handler = typeof value === "object" || typeof value === "function" ? value : null;
    let slot = this.slots.get(type);
    if (handler === null) {
      if (slot?.listener != null) this.target.removeEventListener(type, slot.listener);
      this.slots.delete(type);
      return;
    }
    if (slot === undefined) {
      slot = { value: handler, listener: null };
      this.slots.set(type, slot);
      const current = slot;
      const target = this.target;
      current.listener = function (event: Event): void {
        const callback = current.value;
        if (typeof callback !== "function") throw new TypeError(`the ${type} handler is not a function`);
        const result: unknown = callback.call(target, event);
        // HTML: a handler that returns false cancels the event.
        if (result === false) event.preventDefault();
      };
      this.target.addEventListener(type, current.listener);
    } else {
      slot.value = handler;
    }
  }
}
