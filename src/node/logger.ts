/**
 * Where a server reports what happens to it. The shape fits pino and
 * bunyan (`logger.info(fields, message)`) and `console`; every level is
 * optional. wsx logs nothing unless a logger is given.
 */
export interface Logger {
  debug?(fields: Record<string, unknown>, message: string): void;
  info?(fields: Record<string, unknown>, message: string): void;
  warn?(fields: Record<string, unknown>, message: string): void;
  error?(fields: Record<string, unknown>, message: string): void;
}
