/**
 * Liveness deadlines for one connection: a ping once the peer has been
 * silent for `pingInterval`, failure when it stays silent for `pongTimeout`
 * after that ping, and a close when no message arrived for `idleTimeout`.
 *
 * Cheap by construction: reads only store a timestamp (and a counter); the
 * one timer of a connection, when it fires, compares timestamps and re-arms
 * for whatever time is left. The timer is set so that no read can bring
 * a deadline before it: it may fire early (and re-arm), never late.
 *
 * Timers run before the event loop polls for I/O: after a long synchronous
 * task, bytes may be waiting in the socket when a deadline is found passed.
 * So a verdict is confirmed with setImmediate, after one more poll, before
 * the connection is ended.
 */
import { performance } from "node:perf_hooks";
import { TimeoutError, UsageError } from "../core/index.js";

/** The liveness options, as `ConnectionOptions` declares them. */
export interface LivenessOptions {
  pingInterval?: number;
  pongTimeout?: number;
  idleTimeout?: number;
}

/** Validated liveness settings in ms; 0 means off. */
export interface Liveness {
  pingInterval: number;
  pongTimeout: number;
  idleTimeout: number;
}

/** What a heartbeat needs from its connection. */
export interface HeartbeatHost {
  /** No close frame sent or received yet: once closing, closeTimeout bounds the rest. */
  isOpen(): boolean;
  /** Reading is paused by receive backpressure: the peer's silence then says nothing about it. */
  isReadingPaused(): boolean;
  sendPing(): void;
  /** Nothing arrived within pongTimeout of a heartbeat ping: end the connection now. */
  onDead(error: TimeoutError): void;
  /** No data message arrived within idleTimeout: close the connection. */
  onIdle(error: TimeoutError): void;
}

/** setTimeout takes at most a signed 32-bit delay; longer deadlines are reached in steps. */
const MAX_DELAY = 2 ** 31 - 1;

/**
 * Check the liveness options: null when they are all off (the connection
 * then has no heartbeat at all). `pongTimeout` defaults to `pingInterval`
 * and is ignored without it. Throws {@link UsageError}
 * `INVALID_LIVENESS_OPTION` for values that are not finite and >= 0
 * (`pongTimeout` must be > 0).
 */
export function resolveLiveness(options: LivenessOptions): Liveness | null {
  const pingInterval = milliseconds(options, "pingInterval", true);
  const pongTimeout = milliseconds(options, "pongTimeout", false);
  const idleTimeout = milliseconds(options, "idleTimeout", true);
  if (pingInterval === 0 && idleTimeout === 0) return null;
  return { pingInterval, pongTimeout: pingInterval === 0 ? 0 : pongTimeout || pingInterval, idleTimeout };
}

function milliseconds(options: LivenessOptions, name: keyof LivenessOptions, zeroIsOff: boolean): number {
  const value: unknown = options[name];
  if (value === undefined) return 0;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || (value === 0 && !zeroIsOff)) {
    const allowed = zeroIsOff ? "a finite number of ms >= 0 (0 = off)" : "a finite number of ms > 0";
    throw new UsageError("INVALID_LIVENESS_OPTION", `${name} must be ${allowed}, got ${String(value)}`);
  }
  return value;
}

/** The deadlines of one connection. Started on construction; {@link stop} when the transport closes. */
export class Heartbeat {
  /** When bytes last arrived. */
  private lastRead: number;
  /** When part of a data message last arrived. */
  private lastMessage: number;
  /** The core's `dataActivity` counter at the last read. */
  private dataSeen = 0;
  /** When the last heartbeat ping was sent, or -1; it is answered by any byte read after it. */
  private pingSentAt = -1;
  private timer: NodeJS.Timeout | null = null;
  private confirming: NodeJS.Immediate | null = null;

  constructor(
    private readonly host: HeartbeatHost,
    private readonly settings: Liveness,
  ) {
    const now = performance.now();
    this.lastRead = now;
    this.lastMessage = now;
    this.arm(now);
  }

  /** Bytes arrived; `dataActivity` is the core's counter after them. O(1): no timer is touched. */
  read(dataActivity: number): void {
    const now = performance.now();
    this.lastRead = now;
    if (dataActivity !== this.dataSeen) {
      this.dataSeen = dataActivity;
      this.lastMessage = now;
    }
  }

  /** The transport closed: no more deadlines. */
  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.confirming !== null) clearImmediate(this.confirming);
    this.timer = null;
    this.confirming = null;
  }

  private get awaitingPong(): boolean {
    return this.pingSentAt >= 0 && this.lastRead <= this.pingSentAt;
  }

  private static fire(heartbeat: Heartbeat): void {
    heartbeat.timer = null;
    heartbeat.check(false);
  }

  private static confirm(heartbeat: Heartbeat): void {
    heartbeat.confirming = null;
    heartbeat.check(true);
  }

  /** Act on whatever deadline has passed; `confirmed` once I/O has been polled since it was found passed. */
  private check(confirmed: boolean): void {
    const host = this.host;
    if (!host.isOpen()) return;
    const now = performance.now();
    if (host.isReadingPaused()) {
      // We stopped reading, not the peer: count it as alive and busy until reading resumes.
      this.lastRead = now;
      this.lastMessage = now;
    }
    const { pingInterval, pongTimeout, idleTimeout } = this.settings;
    if (idleTimeout > 0 && now - this.lastMessage >= idleTimeout) {
      if (!confirmed) return this.confirmAfterPoll();
      return host.onIdle(new TimeoutError("IDLE_TIMEOUT", `no message received for ${idleTimeout} ms`));
    }
    if (pingInterval > 0) {
      if (this.awaitingPong) {
        if (now - this.pingSentAt >= pongTimeout) {
          if (!confirmed) return this.confirmAfterPoll();
          return host.onDead(new TimeoutError("PONG_TIMEOUT", `nothing received within ${pongTimeout} ms of a ping`));
        }
      } else if (now - this.lastRead >= pingInterval) {
        this.pingSentAt = now;
        host.sendPing();
      }
    }
    this.arm(now);
  }

  /** Not unref'd: an unref'd immediate lets the poll phase block, so it could run long after the deadline. */
  private confirmAfterPoll(): void {
    this.confirming = setImmediate(Heartbeat.confirm, this);
  }

  /** Set the one timer for the nearest deadline. */
  private arm(now: number): void {
    const { pingInterval, pongTimeout, idleTimeout } = this.settings;
    let next = Infinity;
    if (idleTimeout > 0) next = this.lastMessage + idleTimeout;
    if (pingInterval > 0) {
      // While a ping is out, any byte answers it and the next ping falls due pingInterval after that byte:
      // never earlier than pingSentAt + pingInterval, the one deadline a read can bring forward.
      const due = this.awaitingPong ? this.pingSentAt + Math.min(pongTimeout, pingInterval) : this.lastRead + pingInterval;
      next = Math.min(next, due);
    }
    const delay = Math.min(Math.max(1, Math.ceil(next - now)), MAX_DELAY);
    this.timer = setTimeout(Heartbeat.fire, delay, this);
    this.timer.unref();
  }
}
