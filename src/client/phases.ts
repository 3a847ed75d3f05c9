/**
 * The time a connection attempt may take: one overall budget for the whole
 * connect() (redirects included) and optional bounds per phase. One timer at
 * a time, re-armed as the attempt moves from phase to phase; when it fires,
 * the error names the phase that was running and the bound that ran out.
 */
import { OptionTable, checkOptions, type OptionRule } from "../core/index.js";
import { ConnectTimeoutError, type ConnectPhase } from "./errors.js";

/** Per-phase bounds in ms; each applies to every attempt (and redirect hop) separately. */
export interface PhaseTimeouts {
  /** Resolving the server's (or the proxy's) name. */
  dns?: number;
  /** Opening the TCP connection (or the Unix socket). */
  tcp?: number;
  /** Getting a tunnel from the proxy: TLS to an https: proxy, then CONNECT (or the SOCKS exchange). */
  proxy?: number;
  /** The TLS handshake with the server (wss:). */
  tls?: number;
  /** From sending the upgrade request to its 101 response. */
  handshake?: number;
}

const PHASE_KEYS: Record<ConnectPhase, keyof PhaseTimeouts> = { DNS: "dns", TCP: "tcp", PROXY: "proxy", TLS: "tls", HANDSHAKE: "handshake" };
const DEFAULT_TIMEOUT = 30_000;
/** setTimeout's largest delay; longer ones would fire at once. */
const MAX_TIMER = 2 ** 31 - 1;

/** A bound in ms: > 0, Infinity for none (longer than setTimeout can wait means none too). */
export const TIMEOUT_RULE: OptionRule = {
  expected: "a number of ms > 0 (Infinity for none)",
  test: (value) => typeof value === "number" && value > 0,
};

const PHASE_TIMEOUTS = new OptionTable<PhaseTimeouts>({ dns: TIMEOUT_RULE, tcp: TIMEOUT_RULE, proxy: TIMEOUT_RULE, tls: TIMEOUT_RULE, handshake: TIMEOUT_RULE });

/** Checks the `timeouts` option (a phase name it does not know is UNKNOWN_OPTION), so a bad value fails before anything is dialed. */
export function checkTimeouts(timeouts: PhaseTimeouts | undefined, where: string): void {
  checkOptions(timeouts, PHASE_TIMEOUTS, `${where} timeouts`);
}

export class PhaseClock {
  private readonly endsAt: number;
  private timer: NodeJS.Timeout | undefined;
  private phase: ConnectPhase | null = null;
  private rejectExpired: ((error: Error) => void) | null = null;
  /** Rejects when the running phase runs out of time. */
  readonly expired: Promise<never>;

  constructor(
    private readonly overall: number = DEFAULT_TIMEOUT,
    private readonly perPhase: PhaseTimeouts = {},
  ) {
    this.endsAt = Date.now() + overall;
    this.expired = new Promise<never>((_, reject) => {
      this.rejectExpired = reject;
    });
    this.expired.catch(() => {}); // observed through races; never an unhandled rejection
  }

  /** The phase running now. */
  get current(): ConnectPhase | null {
    return this.phase;
  }

  /** Start `phase` for `where` (a host:port or socket, for the message). */
  enter(phase: ConnectPhase, where: string): void {
    clearTimeout(this.timer);
    this.phase = phase;
    const own = this.perPhase[PHASE_KEYS[phase]];
    const left = this.endsAt - Date.now();
    const byPhase = own !== undefined && own < left;
    const limit = byPhase ? own : this.overall;
    const ms = byPhase ? own : left;
    if (ms === Infinity) return;
    const fire = (): void => {
      const what = byPhase ? `timeouts.${PHASE_KEYS[phase]} ${limit} ms` : `timeout ${limit} ms`;
      this.rejectExpired?.(new ConnectTimeoutError(phase, limit, `${phase} phase with ${where} did not finish in time (${what})`));
    };
    if (ms <= 0) return fire();
    this.timer = setTimeout(fire, Math.min(ms, MAX_TIMER));
  }

  /** The attempt is over (connected or failed): no more timeouts. */
  stop(): void {
    clearTimeout(this.timer);
    this.rejectExpired = null;
  }
}
