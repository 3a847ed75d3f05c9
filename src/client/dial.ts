/**
 * Dialing: from a target to a socket ready for the opening handshake. In
 * order, each a phase of the {@link PhaseClock}: DNS (the server's or the
 * proxy's name), TCP (or the Unix socket), PROXY (the tunnel), TLS (with the
 * server, inside the tunnel if there is one).
 */
import type { LookupFunction, Socket } from "node:net";
import { isIP, connect as netConnect } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { WebSocketError, type HttpLimits } from "../core/index.js";
import type { PhaseClock } from "./phases.js";
import { openTunnel, type Proxy } from "./proxy.js";
import { describeTarget, type Target } from "./target.js";
import { tlsConnectOptions, type ClientTlsOptions } from "./tls.js";

/** What dialing takes from the options. */
export interface DialOptions {
  family?: 4 | 6;
  localAddress?: string;
  lookup?: LookupFunction;
  tls?: ClientTlsOptions;
}

/**
 * One attempt's sockets (the TCP socket, a TLS socket to an https: proxy,
 * the TLS socket to the server), so a failure anywhere destroys them all.
 */
export class Dial {
  private readonly sockets: Socket[] = [];
  /** Rejects when the attempt must stop: a timeout or an abort. */
  private readonly stopped: Promise<never>;

  constructor(
    private readonly clock: PhaseClock,
    aborted: Promise<never>,
  ) {
    this.stopped = Promise.race([clock.expired, aborted]);
  }

  /** `promise`, unless the attempt is stopped first. */
  race<T>(promise: Promise<T>): Promise<T> {
    return Promise.race([promise, this.stopped]);
  }

  /**
   * Keep `socket` to destroy it if the attempt fails. Each phase listens for
   * its errors; between phases (and once discarded) they are nobody's.
   */
  own<S extends Socket>(socket: S): S {
    socket.on("error", ignore);
    this.sockets.push(socket);
    return socket;
  }

  /** Destroy every socket of the attempt. */
  destroy(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  /** Open a socket to `target` (through `proxy`), TLS done if the target is secure. */
  async open(target: Target, proxy: Proxy | null, options: DialOptions, limits: HttpLimits): Promise<Socket> {
    const where = describeTarget(target);
    let socket: Socket;
    if (target.socketPath !== undefined) {
      this.clock.enter("TCP", where);
      socket = this.own(netConnect({ path: target.socketPath }));
      await this.race(connected(socket, "connect", where));
    } else {
      const host = proxy?.host ?? target.host;
      const port = proxy?.port ?? target.port;
      const hop = proxy === null ? where : `proxy ${proxy.display}`;
      const resolving = isIP(host) === 0;
      this.clock.enter(resolving ? "DNS" : "TCP", hop);
      socket = this.own(netConnect({ host, port, family: options.family, localAddress: options.localAddress, lookup: options.lookup }));
      if (resolving) socket.once("lookup", (error: Error | null) => error === null && this.clock.enter("TCP", hop));
      await this.race(connected(socket, "connect", hop));
    }
    if (proxy !== null) {
      this.clock.enter("PROXY", `proxy ${proxy.display}`);
      socket = await this.race(
        openTunnel(socket, proxy, target, {
          limits,
          lookup: options.lookup,
          family: options.family,
          onSocket: (carrier) => this.own(carrier),
        }),
      );
    }
    if (target.secure) {
      this.clock.enter("TLS", where);
      socket = this.own(
        tlsConnect({
          socket,
          host: target.host,
          servername: isIP(target.host) === 0 ? target.host : undefined,
          ALPNProtocols: ["http/1.1"],
          ...tlsConnectOptions(options.tls),
        }),
      );
      await this.race(connected(socket, "secureConnect", where));
    }
    return socket;
  }
}

function ignore(): void {}

/** Resolves on `event`; a socket error or close first is CONNECT_FAILED naming `where`. */
function connected(socket: Socket, event: "connect" | "secureConnect", where: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (): void => {
      socket.removeListener(event, onReady);
      socket.removeListener("error", onError);
      socket.removeListener("close", onClose);
    };
    const onReady = (): void => {
      done();
      resolve();
    };
    const onError = (error: Error): void => {
      done();
      const code = (error as NodeJS.ErrnoException).code;
      reject(new WebSocketError("CONNECT_FAILED", `could not connect to ${where}: ${code ?? error.message}`, { cause: error }));
    };
    const onClose = (): void => {
      done();
      reject(new WebSocketError("CONNECT_FAILED", `could not connect to ${where}: the connection closed`));
    };
    socket.once(event, onReady);
    socket.once("error", onError);
    socket.once("close", onClose);
  });
}
