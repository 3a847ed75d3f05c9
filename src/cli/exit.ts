/**
 * How a `wsx` command ends: its exit codes, the typed error that carries
 * one, and the mapping from any error to a code and a one-line message.
 */
import { HandshakeError, ProxyError, TimeoutError, UsageError, WebSocketError } from "../index.js";

/** Exit codes shared by every command, so scripts can tell what happened. */
export const ExitCode = {
  /** Done: connected and closed normally (or the server stopped on a signal). */
  OK: 0,
  /** Connected, then the connection ended abnormally (dropped, or closed by the peer with an error code). */
  ABNORMAL_CLOSE: 1,
  /** Bad command line: unknown option, missing or invalid value. */
  USAGE: 2,
  /** Could not connect or listen: refused, unreachable, TLS failure, timeout, a proxy that refused or failed. */
  UNREACHABLE: 3,
  /** The server answered the handshake with an HTTP status other than 101. */
  REFUSED: 4,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** The exit code table as printed at the end of every `--help`. */
export const EXIT_CODES_HELP = `Exit codes:
  0  connected and closed normally
  1  the connection ended abnormally (dropped, or closed with an error code)
  2  usage error (unknown option, bad value)
  3  could not connect or listen (refused, unreachable, TLS, timeout, proxy)
  4  the server refused the handshake with an HTTP status (printed)`;

/** The command's own failures (not the library's: those are WebSocketErrors with their codes). */
export type CommandErrorCode = "CLI_USAGE" | "LISTEN_FAILED";

/** A command failed in a way the user should be told about in one line, with this exit code. */
export class CommandError extends Error {
  readonly code: CommandErrorCode;
  readonly exitCode: ExitCodeValue;
  constructor(code: CommandErrorCode, message: string, exitCode: ExitCodeValue, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "CommandError";
    this.code = code;
    this.exitCode = exitCode;
  }
}

/** A bad command line: unknown option, missing argument, value out of range. */
export function usageError(message: string): CommandError {
  return new CommandError("CLI_USAGE", message, ExitCode.USAGE);
}

/** What an error means for the exit code. */
export function exitCodeOf(error: unknown): ExitCodeValue {
  if (error instanceof CommandError) return error.exitCode;
  if (error instanceof UsageError) return ExitCode.USAGE;
  if (error instanceof HandshakeError) return refusedStatus(error) !== null ? ExitCode.REFUSED : ExitCode.UNREACHABLE;
  if (error instanceof TimeoutError || error instanceof ProxyError) return ExitCode.UNREACHABLE;
  if (error instanceof WebSocketError && (error.code === "CONNECT_FAILED" || error.code === "ABORTED")) return ExitCode.UNREACHABLE;
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (code === "EADDRINUSE" || code === "EACCES" || code === "EADDRNOTAVAIL") return ExitCode.UNREACHABLE;
  return ExitCode.ABNORMAL_CLOSE;
}

/** One line saying what went wrong (never a stack trace); a refused handshake names its status. */
export function describeError(error: unknown): string {
  let text: string;
  const status = refusedStatus(error);
  if (status !== null) text = `handshake refused with HTTP ${status} (${(error as Error).message})`;
  else if (error instanceof Error) text = error.message;
  else text = String(error);
  return text.replace(/\s*\n\s*/g, " ");
}

/** The HTTP status a server refused the handshake with, or null (not a refusal, or a 101 that failed its checks). */
export function refusedStatus(error: unknown): number | null {
  return error instanceof HandshakeError && error.status >= 100 && error.status !== 101 ? error.status : null;
}
