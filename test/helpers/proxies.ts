/**
 * Real proxy servers from Debian for the client's proxy tests, each started
 * on a free loopback port with a configuration written to a temporary
 * directory, and stopped by its PID: tinyproxy (HTTP CONNECT, basic auth,
 * allowed ports), squid (HTTP and, with TLS, an https: proxy; ACLs and an
 * access log) and microsocks (SOCKS5, with or without a password).
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Daemon, programUnavailable } from "./daemon.js";
import { closedPort, LOOPBACK } from "./net.js";
import { fixtures } from "./wsx.js";

export const tinyproxyUnavailable = (): string | false => programUnavailable("tinyproxy", "tinyproxy", ["-v"]);
export const squidUnavailable = (): string | false => programUnavailable("squid", "squid", ["-v"]);
export const microsocksUnavailable = (): string | false => programUnavailable("microsocks", "microsocks", ["-h"]);

export interface RunningProxy {
  /** The proxy's URL, without credentials: http://127.0.0.1:port (https:// or socks5:// for those). */
  url: string;
  port: number;
  /** For squid over TLS: the plain-HTTP port beside the TLS one. */
  httpPort?: number;
  /** Everything it logged so far (tinyproxy's log, squid's access log). */
  log(): string;
  stop(): Promise<void>;
}

/** Start a daemon on a free port; a few attempts, in case another process takes the port in between. */
async function onFreePort(start: (port: number) => Promise<RunningProxy>): Promise<RunningProxy> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await start(await closedPort());
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

function scratch(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `wsx-${name}-`));
  // squid drops root for its own user, which must still write its logs here.
  chmodSync(dir, 0o777);
  return dir;
}

async function running(daemon: Daemon, ports: number[], dir: string): Promise<void> {
  try {
    for (const port of ports) await daemon.waitForPort(port);
  } catch (error) {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

function readLog(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

export interface TinyproxyOptions {
  /** BasicAuth user and password: requests without them get 407. */
  auth?: { username: string; password: string };
  /** Ports CONNECT may reach; others get 403. Default: any. */
  connectPorts?: number[];
}

export function startTinyproxy(options: TinyproxyOptions = {}): Promise<RunningProxy> {
  return onFreePort(async (port) => {
    const dir = scratch("tinyproxy");
    const logFile = join(dir, "tinyproxy.log");
    const lines = [`Port ${port}`, `Listen ${LOOPBACK}`, "Timeout 30", "MaxClients 100", "LogLevel Info", `LogFile "${logFile}"`];
    if (options.auth !== undefined) lines.push(`BasicAuth ${options.auth.username} ${options.auth.password}`);
    for (const allowed of options.connectPorts ?? []) lines.push(`ConnectPort ${allowed}`);
    const config = join(dir, "tinyproxy.conf");
    writeFileSync(config, `${lines.join("\n")}\n`);
    const daemon = Daemon.start("tinyproxy", ["-d", "-c", config]);
    await running(daemon, [port], dir);
    return {
      url: `http://${LOOPBACK}:${port}`,
      port,
      log: () => readLog(logFile),
      stop: async () => {
        await daemon.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
}

export interface SquidOptions {
  /** Also listen for TLS (an https: proxy) with the test certificate; `url` is then the https: one. */
  tls?: boolean;
  /** Domains whose CONNECT requests are denied (403). */
  deniedDomains?: string[];
}

export function startSquid(options: SquidOptions = {}): Promise<RunningProxy> {
  return onFreePort(async (port) => {
    const tlsPort = options.tls ? await closedPort() : undefined;
    const dir = scratch("squid");
    writeFileSync(join(dir, "cert.pem"), fixtures.cert);
    writeFileSync(join(dir, "key.pem"), fixtures.key);
    const accessLog = join(dir, "access.log");
    const lines = [
      `http_port ${LOOPBACK}:${port}`,
      ...(tlsPort !== undefined ? [`https_port ${LOOPBACK}:${tlsPort} tls-cert=${join(dir, "cert.pem")} tls-key=${join(dir, "key.pem")}`] : []),
      `pid_filename ${join(dir, "squid.pid")}`,
      `cache_log ${join(dir, "cache.log")}`,
      `access_log stdio:${accessLog}`,
      `coredump_dir ${dir}`,
      "cache deny all",
      "cache_mem 8 MB",
      // Nothing leaves the machine: no resolver but the loopback, no ICMP probes.
      "dns_nameservers 127.0.0.1",
      "pinger_enable off",
      "shutdown_lifetime 0 seconds",
      "acl loopback src 127.0.0.1/32",
    ];
    if (options.deniedDomains !== undefined && options.deniedDomains.length > 0) {
      lines.push(`acl denied dstdomain ${options.deniedDomains.join(" ")}`, "http_access deny denied");
    }
    lines.push("http_access allow loopback", "http_access deny all");
    const config = join(dir, "squid.conf");
    writeFileSync(config, `${lines.join("\n")}\n`);
    chmodSync(join(dir, "key.pem"), 0o644);
    const daemon = Daemon.start("squid", ["-N", "-f", config]);
    await running(daemon, tlsPort !== undefined ? [port, tlsPort] : [port], dir);
    return {
      url: tlsPort !== undefined ? `https://${LOOPBACK}:${tlsPort}` : `http://${LOOPBACK}:${port}`,
      port: tlsPort ?? port,
      httpPort: port,
      log: () => readLog(accessLog),
      stop: async () => {
        await daemon.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
}

export function startMicrosocks(options: { auth?: { username: string; password: string } } = {}): Promise<RunningProxy> {
  return onFreePort(async (port) => {
    const args = ["-i", LOOPBACK, "-p", String(port)];
    if (options.auth !== undefined) args.push("-u", options.auth.username, "-P", options.auth.password);
    const dir = scratch("microsocks");
    const daemon = Daemon.start("microsocks", args);
    await running(daemon, [port], dir);
    return {
      url: `socks5://${LOOPBACK}:${port}`,
      port,
      log: () => daemon.output,
      stop: async () => {
        await daemon.stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  });
}
