/**
 * Cookies: the `cookies` option (fixed values for the first origin) and the
 * `cookieJar` option, any object with the get/set shape of tough-cookie's
 * CookieJar. The jar is read before every request and given every
 * `Set-Cookie` of every response (the 101 and each redirect), so domain,
 * path, Secure and expiry follow the jar's RFC 6265 rules.
 */
import type { OptionRule } from "../core/index.js";

/**
 * What wsx needs of a cookie jar: tough-cookie's `CookieJar` fits, and so
 * does any object with these two methods, synchronous or returning promises.
 * URLs are given as http: or https: (wss: is https:), so Secure cookies go
 * only over TLS.
 */
export interface CookieJarLike {
  getCookieString(url: string): string | Promise<string>;
  setCookie(cookie: string, url: string): unknown;
}

/** The `cookieJar` option: an object with both methods. */
export const COOKIE_JAR_RULE: OptionRule = {
  expected: "an object with getCookieString(url) and setCookie(cookie, url) methods (such as tough-cookie's CookieJar)",
  test: (value) => {
    const jar = value as Partial<CookieJarLike> | null;
    return typeof jar === "object" && jar !== null && typeof jar.getCookieString === "function" && typeof jar.setCookie === "function";
  },
};

/** The `cookies` option as a Cookie header value. */
export function fixedCookies(cookies: Record<string, string> | string): string {
  if (typeof cookies === "string") return cookies;
  return Object.entries(cookies)
    .map(([name, value]) => `${name}=${value}`)
    .join("; ");
}

/** The jar's Cookie header value for `url` ("" when it has none). */
export async function jarCookies(jar: CookieJarLike, url: URL): Promise<string> {
  const value = await jar.getCookieString(url.href);
  return typeof value === "string" ? value : "";
}

/**
 * Give the jar every Set-Cookie of a response from `url`. A cookie the jar
 * refuses (wrong domain, malformed) is ignored, as RFC 6265 section 5.3
 * tells user agents to do; the other cookies still count.
 */
export async function storeCookies(jar: CookieJarLike, url: URL, rawHeaders: ReadonlyArray<[string, string]>): Promise<void> {
  for (const [name, value] of rawHeaders) {
    if (name.length !== 10 || name.toLowerCase() !== "set-cookie") continue;
    try {
      await jar.setCookie(value, url.href);
    } catch {
      // Refused by the jar's rules: the server cannot set it, nothing else changes.
    }
  }
}
