/**
 * Typed errors. Every way a peer can break RFC 6455 is listed once in
 * {@link VIOLATIONS}, with the close code it earns; the parser, the protocol
 * state machine and the handshake all raise errors through this table so a
 * rule maps to exactly one code everywhere.
 */

/** Close codes defined by RFC 6455 section 7.4.1 that wsx sends or reports. */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 1002,
  UNSUPPORTED_DATA: 1003,
  /** Reported when a close frame carried no code; never sent. */
  NO_STATUS: 1005,
  /** Reported when the connection dropped without a close frame; never sent. */
  ABNORMAL: 1006,
  INVALID_PAYLOAD: 1007,
  POLICY_VIOLATION: 1008,
  MESSAGE_TOO_BIG: 1009,
  MANDATORY_EXTENSION: 1010,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
  TRY_AGAIN_LATER: 1013,
} as const;

/**
 * Each rule a peer can break while frames flow, with the close code that
 * answers it (RFC 6455 section 7.4.1) and a short human explanation.
 */
export const VIOLATIONS = {
  RESERVED_BITS: { closeCode: 1002, message: "reserved bits set without a negotiated extension" },
  UNKNOWN_OPCODE: { closeCode: 1002, message: "unknown opcode" },
  CONTROL_TOO_LONG: { closeCode: 1002, message: "control frame payload longer than 125 bytes" },
  CONTROL_FRAGMENTED: { closeCode: 1002, message: "fragmented control frame" },
  UNEXPECTED_CONTINUATION: { closeCode: 1002, message: "continuation frame without a message to continue" },
  EXPECTED_CONTINUATION: { closeCode: 1002, message: "new data frame while a fragmented message is unfinished" },
  UNMASKED_FRAME: { closeCode: 1002, message: "client frame is not masked" },
  MASKED_FRAME: { closeCode: 1002, message: "server frame is masked" },
  LENGTH_TOP_BIT: { closeCode: 1002, message: "64-bit payload length has its most significant bit set" },
  NON_MINIMAL_LENGTH: { closeCode: 1002, message: "payload length not encoded in the minimal number of bytes" },
  CLOSE_PAYLOAD_LENGTH: { closeCode: 1002, message: "close frame payload of length 1" },
  INVALID_CLOSE_CODE: { closeCode: 1002, message: "close frame carries a code that must not be sent" },
  INVALID_UTF8: { closeCode: 1007, message: "text message is not valid UTF-8" },
  INVALID_CLOSE_REASON: { closeCode: 1007, message: "close reason is not valid UTF-8" },
  INVALID_COMPRESSED_DATA: { closeCode: 1007, message: "message could not be decompressed" },
  FRAME_TOO_BIG: { closeCode: 1009, message: "frame larger than maxFrameSize" },
  MESSAGE_TOO_BIG: { closeCode: 1009, message: "message larger than maxMessageSize" },
  TOO_MANY_FRAGMENTS: { closeCode: 1009, message: "message split into more fragments than maxFragments" },
} as const satisfies Record<string, { closeCode: number; message: string }>;

/** Name of one rule in {@link VIOLATIONS}. */
export type ViolationCode = keyof typeof VIOLATIONS;

/**
 * Codes of {@link HandshakeError}: the opening handshake failed (on the
 * server, the request was refused with an HTTP status; on the client, the
 * server's answer was not a valid 101).
 */
export type HandshakeErrorCode =
  | "CONNECTION_CLOSED"
  | "EXTENSION_NOT_OFFERED"
  | "HANDSHAKE_TIMEOUT"
  | "HEADERS_TOO_LARGE"
  | "INSECURE_REDIRECT"
  | "INTERNAL_ERROR"
  | "INVALID_ACCEPT"
  | "INVALID_CONNECTION"
  | "INVALID_EXTENSION_HEADER"
  | "INVALID_EXTENSION_RESPONSE"
  | "INVALID_HOST"
  | "INVALID_HTTP_VERSION"
  | "INVALID_KEY"
  | "INVALID_SUBPROTOCOL"
  | "INVALID_TARGET"
  | "INVALID_UPGRADE"
  | "MALFORMED_HTTP"
  | "METHOD_NOT_ALLOWED"
  | "MISSING_HOST"
  | "NOT_FOUND"
  | "NOT_WEBSOCKET"
  | "ORIGIN_NOT_ALLOWED"
  | "PROTOCOL_NOT_OFFERED"
  | "REJECTED"
  | "SERVER_CLOSING"
  | "TOO_MANY_CONNECTIONS"
  | "TOO_MANY_HANDSHAKES"
  | "TOO_MANY_HEADERS"
  | "UNAUTHORIZED"
  | "UNEXPECTED_STATUS"
  | "UNSUPPORTED_VERSION";

/** Codes of {@link TimeoutError}: which deadline passed. */
export type TimeoutErrorCode =
  | "DNS_TIMEOUT"
  | "HANDSHAKE_TIMEOUT"
  | "IDLE_TIMEOUT"
  | "PING_TIMEOUT"
  | "PONG_TIMEOUT"
  | "PROXY_TIMEOUT"
  | "RECEIVE_TIMEOUT"
  | "TCP_TIMEOUT"
  | "TLS_TIMEOUT";

/** Codes of {@link UsageError}: what the caller passed or did that wsx cannot use. */
export type UsageErrorCode =
  | "ADAPTER_ATTACHED"
  | "ADAPTER_CLOSED"
  | "CHUNK_DELIVERY"
  | "CLOSE_REASON_TOO_LONG"
  | "CONTROL_TOO_LONG"
  | "DUPLICATE_HEADER"
  | "EXTENSION_CONFLICT"
  | "FRAGMENTED_MESSAGE_IN_PROGRESS"
  | "FRAME_DELIVERY"
  | "FRAME_TOO_BIG"
  | "HEAD_ALREADY_PARSED"
  | "INVALID_CLOSE"
  | "INVALID_CLOSE_CODE"
  | "INVALID_CLOSE_REASON"
  | "INVALID_DATA"
  | "INVALID_DEFLATE_OPTION"
  | "INVALID_EXTENSION"
  | "INVALID_FRAGMENT_SIZE"
  | "INVALID_FRAME"
  | "INVALID_HEADER"
  | "INVALID_HOST"
  | "INVALID_KEY"
  | "INVALID_LIMIT"
  | "INVALID_LIVENESS_OPTION"
  | "INVALID_MASK"
  | "INVALID_OPTION"
  | "INVALID_ORIGIN"
  | "INVALID_PATH"
  | "INVALID_PORT"
  | "INVALID_PROXY"
  | "INVALID_STATUS"
  | "INVALID_SUBPROTOCOL"
  | "INVALID_TOPIC"
  | "INVALID_UPGRADE_REQUEST"
  | "INVALID_URL"
  | "INVALID_UTF8"
  | "MIXED_STREAM"
  | "NOT_ON_SERVER"
  | "NOT_OPEN"
  | "NOT_RUNNING"
  | "NO_MESSAGE_TO_CONTINUE"
  | "NO_PENDING_DECODE"
  | "NO_SERVER"
  | "REDIS_CLIENTS"
  | "RESERVED_HEADER"
  | "SERVER_CLOSED"
  | "SINK_SET"
  | "SOCKS_UNAVAILABLE"
  | "UNKNOWN_OPTION"
  | "UNSUPPORTED_OPTION"
  | "USE_CONNECT";

/**
 * Codes raised as a plain {@link WebSocketError} (no more specific class):
 * the connection could not be made or was abandoned, or compression is
 * unavailable.
 */
export type GeneralErrorCode = "ABORTED" | "CONNECT_FAILED" | "DEFLATE_UNSUPPORTED";

/** Codes of `ProxyError` (the client's proxy did not open a tunnel). */
export type ProxyErrorCode = "PROXY_REFUSED" | "PROXY_CLOSED" | "PROXY_FAILED";

/** Codes of `QueueOverflowError` (a `reconnecting()` queue was full). */
export type QueueErrorCode = "QUEUE_FULL" | "QUEUE_DROPPED";

/** Codes of `RedisAdapterError`, which the Redis adapter (`wsx/redis`) reports to its `onError`. */
export type RedisErrorCode =
  | "REDIS_CONNECTION"
  | "REDIS_MALFORMED_MESSAGE"
  | "REDIS_PUBLISH_DROPPED"
  | "REDIS_PUBLISH_FAILED"
  | "REDIS_SUBSCRIBE_FAILED";

/**
 * Every code a wsx error can carry: a closed set, so `switch (error.code)`
 * is checked by the compiler and a misspelt code does not compile.
 */
export type ErrorCode =
  | ViolationCode
  | HandshakeErrorCode
  | TimeoutErrorCode
  | UsageErrorCode
  | GeneralErrorCode
  | ProxyErrorCode
  | QueueErrorCode
  | RedisErrorCode
  | "CONNECTION_CLOSED"
  | "RECEIVE_TOO_BIG"
  | "SEND_DROPPED";

/** Base class of every error wsx raises; `code` is stable and machine readable. */
export class WebSocketError extends Error {
  /** A stable identifier such as `"UNKNOWN_OPCODE"` or `"HANDSHAKE_TIMEOUT"`. */
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * The peer broke the protocol after the handshake. `closeCode` is the code wsx
 * sent (or would send) in its close frame: 1002, 1007 or 1009.
 */
export class ProtocolError extends WebSocketError {
  declare readonly code: ViolationCode;
  readonly closeCode: number;
  constructor(code: ViolationCode, detail?: string) {
    const rule = VIOLATIONS[code];
    super(code, detail ? `${rule.message}: ${detail}` : rule.message);
    this.closeCode = rule.closeCode;
  }
}

/**
 * The opening handshake failed. On the server `status` is the HTTP status the
 * request was (or should be) answered with; `headers` are extra response
 * headers such as `Sec-WebSocket-Version: 13` for a 426.
 */
export class HandshakeError extends WebSocketError {
  declare readonly code: HandshakeErrorCode;
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  constructor(code: HandshakeErrorCode, message: string, status = 400, headers: Record<string, string> = {}) {
    super(code, message);
    this.status = status;
    this.headers = headers;
  }
}

/** An operation was attempted on a connection that is closing or closed. */
export class ConnectionClosedError extends WebSocketError {
  declare readonly code: "CONNECTION_CLOSED";
  /** Close code of the connection (1005 when none was given, 1006 when it dropped). */
  readonly closeCode: number;
  readonly reason: string;
  constructor(closeCode: number, reason: string, message = "connection is closed") {
    super("CONNECTION_CLOSED", `${message} (${closeCode}${reason ? ` ${reason}` : ""})`);
    this.closeCode = closeCode;
    this.reason = reason;
  }
}

/** A deadline passed: connect, handshake, receive, ping or close. */
export class TimeoutError extends WebSocketError {
  declare readonly code: TimeoutErrorCode;
  constructor(code: TimeoutErrorCode, message: string) {
    super(code, message);
  }
}

/** The caller passed an argument wsx cannot use (bad URL, oversize control payload...). */
export class UsageError extends WebSocketError {
  declare readonly code: UsageErrorCode;
  constructor(code: UsageErrorCode, message: string) {
    super(code, message);
  }
}

/**
 * A received message was larger than the `maxSize` one `receive()` call
 * allowed. The connection stays open: the message is skipped (what is left
 * of it is dropped as it arrives) and the next call reads the next message.
 */
export class SizeLimitError extends WebSocketError {
  declare readonly code: "RECEIVE_TOO_BIG";
  /** Bytes of the message seen when it was refused (its size, or more than `limit` so far). */
  readonly size: number;
  readonly limit: number;
  constructor(size: number, limit: number) {
    super("RECEIVE_TOO_BIG", `received message of ${size} bytes or more is over maxSize ${limit}`);
    this.size = size;
    this.limit = limit;
  }
}

/**
 * A message was not sent because the connection already had more bytes
 * waiting than its limit allows (the "drop" backpressure policy).
 */
export class BackpressureError extends WebSocketError {
  declare readonly code: "SEND_DROPPED";
  /** Bytes that were waiting when the message was refused. */
  readonly buffered: number;
  constructor(buffered: number, limit: number) {
    super("SEND_DROPPED", `message dropped: ${buffered} bytes already buffered (maxBackpressure ${limit})`);
    this.buffered = buffered;
  }
}
