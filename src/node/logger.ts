/**
 * Where a server reports what happens to it. The shape fits pino and
 * bunyan (`logger.info(fields, message)`) and `console`; every level is
 * optional. wsx logs nothing unless a logger is given.
 */
export interface Logger {
  /** Connections accepted and closed cleanly. */
  debug?(fields: Record<string, unknown>, message: string): void;
  /** Handshakes refused and connections that failed (closed with an error). */
  info?(fields: Record<string, unknown>, message: string): void;
  /** Slow consumers: a connection's messages dropped, or the connection closed, past `maxBackpressure`. */
  warn?(fields: Record<string, unknown>, message: string): void;
  /** Errors thrown by the application's handler, and the server's own errors. */
  error?(fields: Record<string, unknown>, message: string): void;
}
