/** Counters a connection keeps about its traffic, and their sum over a server. */

/** Traffic of one connection since it opened. */
export interface ConnectionStats {
  /** Data messages received (whole messages; data frames in frame delivery). */
  messagesIn: number;
  /** Data messages sent, published ones included. */
  messagesOut: number;
  /** Bytes read from the socket (frames, headers included). */
  bytesIn: number;
  /** Bytes handed to the socket (frames, headers included). */
  bytesOut: number;
  /** Messages not sent because the connection was over its `maxBackpressure`. */
  dropped: number;
}

/** A server's counters: its open connections and everything it has seen since it started. */
export interface ServerStats extends ConnectionStats {
  /** Open connections now. */
  connections: number;
  /** Connections accepted since the server started. */
  accepted: number;
  /** Handshakes refused (bad requests, authentication, limits...). */
  rejected: number;
  /** Calls to `publish` (here or, through an adapter, on another server). */
  published: number;
  /** Closed connections by close code (1006 when no close frame arrived). */
  closedByCode: Record<number, number>;
}

export class Counters implements ConnectionStats {
  messagesIn = 0;
  messagesOut = 0;
  bytesIn = 0;
  bytesOut = 0;
  dropped = 0;

  /** Add another connection's counters to these. */
  add(other: ConnectionStats): void {
    this.messagesIn += other.messagesIn;
    this.messagesOut += other.messagesOut;
    this.bytesIn += other.bytesIn;
    this.bytesOut += other.bytesOut;
    this.dropped += other.dropped;
  }

  /** A plain copy, safe to hand out. */
  snapshot(): ConnectionStats {
    const { messagesIn, messagesOut, bytesIn, bytesOut, dropped } = this;
    return { messagesIn, messagesOut, bytesIn, bytesOut, dropped };
  }
}
