/**
 * Errors only the client raises: a proxy that would not open a tunnel, and
 * a connection attempt that ran out of time in a named phase.
 */
import { TimeoutError, WebSocketError, type ProxyErrorCode, type QueueErrorCode, type TimeoutErrorCode } from "../core/index.js";

/** The steps of opening a connection, in order; a timeout names the one that ran out. */
export type ConnectPhase = "DNS" | "TCP" | "PROXY" | "TLS" | "HANDSHAKE";

/** The code of a timeout in each phase. */
const PHASE_CODES = {
  DNS: "DNS_TIMEOUT",
  TCP: "TCP_TIMEOUT",
  PROXY: "PROXY_TIMEOUT",
  TLS: "TLS_TIMEOUT",
  HANDSHAKE: "HANDSHAKE_TIMEOUT",
} as const satisfies Record<ConnectPhase, TimeoutErrorCode>;

/**
 * Opening the connection took too long. `phase` says where it stopped
 * (`code` is `DNS_TIMEOUT`, `TCP_TIMEOUT`, `PROXY_TIMEOUT`, `TLS_TIMEOUT` or
 * `HANDSHAKE_TIMEOUT`); `limit` is the bound that ran out, in ms.
 */
export class ConnectTimeoutError extends TimeoutError {
  declare readonly code: (typeof PHASE_CODES)[ConnectPhase];
  readonly phase: ConnectPhase;
  readonly limit: number;
  constructor(phase: ConnectPhase, limit: number, message: string) {
    super(PHASE_CODES[phase], message);
    this.phase = phase;
    this.limit = limit;
  }
}

/**
 * The proxy did not open a tunnel to the server. `code` is `PROXY_REFUSED`
 * (it answered with a status other than 2xx, such as 407, 403 or 502),
 * `PROXY_CLOSED` (it closed the connection without answering), or
 * `PROXY_FAILED` (a SOCKS proxy's refusal or an answer that is not HTTP).
 * `status` and `statusText` are what an HTTP proxy answered (0 and the
 * reason otherwise); `proxy` is the proxy's URL without credentials.
 */
export class ProxyError extends WebSocketError {
  declare readonly code: ProxyErrorCode;
  readonly status: number;
  readonly statusText: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly proxy: string;
  constructor(
    code: ProxyErrorCode,
    message: string,
    details: { proxy: string; status?: number; statusText?: string; headers?: Record<string, string>; cause?: unknown },
  ) {
    super(code, message, { cause: details.cause });
    this.status = details.status ?? 0;
    this.statusText = details.statusText ?? "";
    this.headers = details.headers ?? {};
    this.proxy = details.proxy;
  }
}

/**
 * A message sent while a {@link ReconnectingWebSocket} was disconnected did
 * not fit its queue: `QUEUE_FULL` (this message was refused, the "reject"
 * policy) or `QUEUE_DROPPED` (this older message made room for a newer one,
 * the "drop-oldest" policy).
 */
export class QueueOverflowError extends WebSocketError {
  declare readonly code: QueueErrorCode;
  constructor(code: QueueErrorCode, limit: number) {
    super(
      code,
      code === "QUEUE_FULL"
        ? `message refused: ${limit} messages already wait for the reconnection`
        : `message dropped to make room for a newer one (${limit} messages wait for the reconnection)`,
    );
  }
}
