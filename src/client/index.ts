/** The client: connect(), its options and errors. */
export { connect } from "./connect.js";
export type { ConnectOptions } from "./options.js";
export type { CookieJarLike } from "./cookies.js";
export type { PhaseTimeouts } from "./phases.js";
export type { ProxyOption, ProxySettings } from "./proxy.js";
export type { ClientTlsOptions } from "./tls.js";
export { ConnectTimeoutError, ProxyError, type ConnectPhase } from "./errors.js";
