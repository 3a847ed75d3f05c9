/**
 * wsx: a fast, complete WebSocket toolkit for Node.js.
 *
 * `connect()` opens a client connection, `serve()` starts a server, and
 * `WebSocketServer#handleUpgrade` attaches to an existing node:http(s)
 * server. The protocol itself lives in `wsx/core` and runs anywhere.
 *
 * @module wsx
 */
export * from "./node/index.js";
export * from "./client/index.js";
export * from "./server/index.js";
export {
  Chunk,
  CloseCode,
  CloseFrame,
  BackpressureError,
  ConnectionClosedError,
  DEFAULT_LIMITS,
  Frame,
  HandshakeError,
  Message,
  Opcode,
  ProtocolError,
  SizeLimitError,
  TimeoutError,
  UsageError,
  VIOLATIONS,
  WebSocketError,
  type ErrorCode,
  type FrameType,
  type GeneralErrorCode,
  type HandshakeErrorCode,
  type HttpHead,
  type ProxyErrorCode,
  type QueueErrorCode,
  type RedisErrorCode,
  type TimeoutErrorCode,
  type UsageErrorCode,
  type Limits,
  type MessageType,
  type ViolationCode,
} from "./core/index.js";
export { permessageDeflate, liveZlibContexts, type DeflateOptions, type PerMessageDeflateFactory } from "./deflate/index.js";
export type { CompressionOption } from "./node/extensions.js";
