/** The error for a read or write that cannot complete because the connection is closing or closed. */
import { CloseCode, ConnectionClosedError, type Protocol } from "../core/index.js";

/**
 * `closed`: the transport is gone. From then on, and once the peer's close
 * frame arrived, the code is the connection's (1006 when no close frame
 * came); while only our side has closed, it is the one we sent.
 */
export function closedError(core: Protocol, closed: boolean): ConnectionClosedError {
  if (closed || core.closeReceived !== null) return new ConnectionClosedError(core.closeCode, core.closeReason);
  const sent = core.closeSent;
  return new ConnectionClosedError(sent?.code ?? CloseCode.ABNORMAL, sent?.reason ?? "");
}
