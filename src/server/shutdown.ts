/**
 * Graceful shutdown: close every connection, wait for the close handshakes
 * and for every other socket the server still owns, and destroy whatever is
 * left when the deadline passes.
 */
import type { Server as NetServer, Socket } from "node:net";
import { CloseCode, OptionTable, UsageError, checkOptions, encodeClosePayload } from "../core/index.js";
import type { WebSocket } from "../node/connection.js";

/** How {@link WebSocketServer.close} shuts down. */
export interface ShutdownOptions {
  /**
   * Time the connections have to finish their close handshake, in ms; what is
   * still open then is destroyed (default: the server's `shutdownTimeout`, 5000).
   * Infinity sets no deadline: each connection is still bounded by its `closeTimeout`.
   */
  timeout?: number;
  /** Close code sent to every connection (default 1001, going away). */
  code?: number;
  /** Close reason sent to every connection (default "server shutting down"). */
  reason?: string;
}

/** Checked by {@link resolveShutdown} (the code and reason as every close() checks them). */
const SHUTDOWN_OPTIONS = new OptionTable<ShutdownOptions>({ timeout: null, code: null, reason: null });

export const DEFAULT_SHUTDOWN_TIMEOUT = 5000;
const DEFAULT_REASON = "server shutting down";
/** The longest delay setTimeout honours. */
const MAX_TIMER = 0x7fffffff;

/** Shutdown options with defaults filled in. Throws UsageError for values that cannot be used. */
export function resolveShutdown(options: ShutdownOptions, fallbackTimeout: number | undefined): Required<ShutdownOptions> {
  checkOptions(options, SHUTDOWN_OPTIONS, "close()");
  const timeout = options.timeout ?? fallbackTimeout ?? DEFAULT_SHUTDOWN_TIMEOUT;
  if (typeof timeout !== "number" || !((timeout >= 0 && timeout <= MAX_TIMER) || timeout === Infinity)) {
    throw new UsageError("INVALID_OPTION", `the shutdown timeout must be 0 to ${MAX_TIMER} ms or Infinity, got ${String(timeout)}`);
  }
  const code = options.code ?? CloseCode.GOING_AWAY;
  const reason = options.reason ?? DEFAULT_REASON;
  encodeClosePayload(code, reason); // the same checks as every connection's close()
  return { timeout, code, reason };
}

/**
 * Sockets the server owns that are neither a handshake in progress nor a
 * connection: answered with an HTTP error and lingering until the client
 * hangs up, or still negotiating TLS. Each is kept until it closes.
 */
export class SocketSet {
  private readonly sockets = new Set<Socket>();

  get size(): number {
    return this.sockets.size;
  }

  /** Track `socket` until it closes; with `linger`, destroy it if it is still open that many ms later. */
  add(socket: Socket, linger?: number): void {
    if (socket.closed || this.sockets.has(socket)) return;
    this.sockets.add(socket);
    const timer = linger === undefined ? undefined : setTimeout(() => socket.destroy(), linger);
    timer?.unref();
    socket.once("close", () => {
      clearTimeout(timer);
      this.sockets.delete(socket);
    });
  }

  /** Resolves once every socket tracked at the time of the call has closed. */
  closed(): Promise<unknown> {
    return Promise.all([...this.sockets].map((socket) => new Promise((resolve) => socket.once("close", resolve))));
  }

  destroyAll(): void {
    for (const socket of this.sockets) socket.destroy();
  }
}

/**
 * Close `connections`, then wait until they, the sockets of `others` and the
 * `listener` (standalone mode) are all closed. After `timeout` ms every
 * remaining socket is destroyed, so this settles soon after the deadline.
 */
export async function drain(
  connections: readonly WebSocket[],
  others: readonly SocketSet[],
  listener: NetServer | null,
  { timeout, code, reason }: Required<ShutdownOptions>,
): Promise<void> {
  const gone: Array<Promise<unknown>> = [];
  for (const ws of connections) {
    // A connection that cannot close cleanly any more is destroyed rather than waited for.
    ws.close(code, reason).catch(() => ws.terminate());
    gone.push(ws.closed);
  }
  for (const set of others) gone.push(set.closed());
  if (listener !== null) gone.push(new Promise((resolve) => listener.close(resolve)));
  const deadline =
    timeout === Infinity
      ? undefined
      : setTimeout(() => {
          for (const ws of connections) ws.terminate();
          for (const set of others) set.destroyAll();
        }, timeout);
  try {
    await Promise.all(gone);
  } finally {
    clearTimeout(deadline);
  }
}
