/**
 * Colour for the commands' output: only on a terminal, and never when
 * NO_COLOR is set (https://no-color.org: any non-empty value).
 */

/** Whether to colour what is written to `stream`. */
export function colorFor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  return stream.isTTY === true && (env["NO_COLOR"] ?? "") === "";
}

export interface Style {
  /** Received messages. */
  incoming(text: string): string;
  /** Sent messages. */
  outgoing(text: string): string;
  /** Type marks and other quiet details. */
  dim(text: string): string;
  /** Status lines: connected, closed, pong. */
  info(text: string): string;
  error(text: string): string;
}

const ansi = (open: number, close: number) => (text: string) => `\u001b[${open}m${text}\u001b[${close}m`;

const COLORED: Style = {
  incoming: ansi(32, 39),
  outgoing: ansi(36, 39),
  dim: ansi(2, 22),
  info: ansi(33, 39),
  error: ansi(31, 39),
};

const same = (text: string): string => text;
const PLAIN: Style = { incoming: same, outgoing: same, dim: same, info: same, error: same };

export function styleFor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Style {
  return colorFor(stream, env) ? COLORED : PLAIN;
}
