export {
  WebSocket,
  type CloseInfo,
  type ConnectionError,
  type SocketError,
  type ConnectionOptions,
  type ConnectionSink,
  type SendData,
  type SendOptions,
  type StreamConnectionOptions,
  type WebSocketEvents,
} from "./connection.js";
export { WebSocketReader, WebSocketWriter } from "./halves.js";
export type { ReceiveChunkOptions, ReceiveOptions } from "./reading.js";
export { DEFAULT_MAX_BACKPRESSURE, type BackpressureOptions, type BackpressurePolicy } from "./backpressure.js";
export { type ConnectionStats, type ServerStats } from "./stats.js";
export { type Logger } from "./logger.js";
