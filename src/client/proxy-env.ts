/**
 * Which proxy the environment asks for, with the conventions curl follows:
 * `https_proxy` for wss:, `http_proxy` for ws:, else `all_proxy`, lower case
 * before upper case; `no_proxy` lists hosts reached directly.
 *
 * NO_PROXY entries, separated by commas or spaces:
 * - `*` alone: no proxy at all;
 * - a name matches itself and every subdomain (`example.com` matches
 *   `example.com` and `ws.example.com`, not `badexample.com`); a leading `.`
 *   or `*.` changes nothing (`.example.com` is `example.com`), as in curl;
 * - an IP address matches itself, an address with a prefix length matches
 *   its network (`10.0.0.0/8`, `fd00::/8`); IPv6 may be bracketed;
 * - any entry may end with `:port`, and then matches only that port.
 * Names are compared case-insensitively and are not resolved.
 */
import { BlockList, isIP } from "node:net";

type Env = Readonly<Record<string, string | undefined>>;

function variable(env: Env, name: string): string {
  return env[name] || env[name.toUpperCase()] || "";
}

/**
 * The proxy URL the environment gives for a connection to `host`:`port`
 * (secure: over TLS), or null when there is none or NO_PROXY excludes it.
 */
export function proxyFromEnv(host: string, port: number, secure: boolean, env: Env = process.env): string | null {
  const proxy = variable(env, secure ? "https_proxy" : "http_proxy") || variable(env, "all_proxy");
  if (proxy === "") return null;
  if (bypassesProxy(host, port, variable(env, "no_proxy"))) return null;
  // curl reads a bare host:port as an HTTP proxy.
  return proxy.includes("://") ? proxy : `http://${proxy}`;
}

/** Whether `noProxy` (a NO_PROXY value) says `host`:`port` is reached without a proxy. */
export function bypassesProxy(host: string, port: number, noProxy: string): boolean {
  const list = noProxy.trim();
  if (list === "") return false;
  if (list === "*") return true;
  const name = unbracket(host.toLowerCase()).replace(/\.$/, "");
  const family = isIP(name);
  for (const raw of list.split(/[\s,]+/)) {
    if (raw === "") continue;
    const { entry, entryPort } = splitPort(raw.toLowerCase());
    if (entryPort !== null && entryPort !== port) continue;
    if (entry === "*") return true;
    if (family !== 0) {
      if (matchesAddress(name, family, entry)) return true;
      continue;
    }
    const domain = entry.replace(/^\*?\./, "").replace(/\.$/, "");
    if (domain !== "" && (name === domain || name.endsWith(`.${domain}`))) return true;
  }
  return false;
}

function unbracket(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/** `entry` without a trailing `:port`, and the port. A bare IPv6 address keeps its colons. */
function splitPort(raw: string): { entry: string; entryPort: number | null } {
  if (raw.startsWith("[")) {
    const close = raw.indexOf("]");
    const rest = raw.slice(close + 1);
    const port = /^:(\d+)$/.exec(rest);
    return { entry: raw.slice(1, close < 0 ? undefined : close), entryPort: port ? Number(port[1]) : null };
  }
  const match = /^([^:]+):(\d+)$/.exec(raw);
  return match ? { entry: match[1]!, entryPort: Number(match[2]) } : { entry: raw, entryPort: null };
}

function matchesAddress(address: string, family: number, entry: string): boolean {
  const slash = entry.indexOf("/");
  const base = slash < 0 ? entry : entry.slice(0, slash);
  const baseFamily = isIP(base);
  if (baseFamily !== family) return false;
  const type = family === 4 ? "ipv4" : "ipv6";
  const list = new BlockList();
  if (slash < 0) list.addAddress(base, type);
  else {
    const prefix = Number(entry.slice(slash + 1));
    if (!Number.isInteger(prefix) || prefix < 0 || prefix > (family === 4 ? 32 : 128)) return false;
    list.addSubnet(base, prefix, type);
  }
  return list.check(address, type);
}
