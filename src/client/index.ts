/** The client: connect(), its options and errors. */
export { connect } from "./connect.js";
export { checkConnectOptions, type ConnectOptions } from "./options.js";
export type { CookieJarLike } from "./cookies.js";
export type { PhaseTimeouts } from "./phases.js";
export type { ProxyOption, ProxySettings } from "./proxy.js";
export type { ClientTlsOptions } from "./tls.js";
export { ConnectTimeoutError, ProxyError, QueueOverflowError, type ConnectPhase } from "./errors.js";
export {
  reconnecting,
  ReconnectingWebSocket,
  type AttemptFailedEvent,
  type DisconnectEvent,
  type OpenInfo,
  type QueuePolicy,
  type ReconnectEnd,
  type ReconnectingEvents,
  type ReconnectingOptions,
  type ReconnectPolicy,
  type RetryEvent,
} from "./reconnect.js";
