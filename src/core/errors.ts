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

/** Base class of every error wsx raises; `code` is stable and machine readable. */
export class WebSocketError extends Error {
  /** A stable identifier such as `"UNKNOWN_OPCODE"` or `"HANDSHAKE_TIMEOUT"`. */
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
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
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  constructor(code: string, message: string, status = 400, headers: Record<string, string> = {}) {
    super(code, message);
    this.status = status;
    this.headers = headers;
  }
}

/** An operation was attempted on a connection that is closing or closed. */
export class ConnectionClosedError extends WebSocketError {
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
  constructor(code: string, message: string) {
    super(code, message);
  }
}

/** The caller passed an argument wsx cannot use (bad URL, oversize control payload...). */
export class UsageError extends WebSocketError {
  constructor(code: string, message: string) {
    super(code, message);
  }
}

/**
 * A received message was larger than the `maxSize` one `receive()` call
 * allowed. The connection stays open: the message is skipped (what is left
 * of it is dropped as it arrives) and the next call reads the next message.
 */
export class SizeLimitError extends WebSocketError {
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
  /** Bytes that were waiting when the message was refused. */
  readonly buffered: number;
  constructor(buffered: number, limit: number) {
    super("SEND_DROPPED", `message dropped: ${buffered} bytes already buffered (maxBackpressure ${limit})`);
    this.buffered = buffered;
  }
}
