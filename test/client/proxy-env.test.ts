/**
 * The environment's proxy variables as curl reads them: which variable
 * applies to ws: and wss:, lower case before upper case, ALL_PROXY as the
 * fallback, and every NO_PROXY form (names and their subdomains, leading
 * dots and `*.`, ports, IP addresses and networks, `*`).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { bypassesProxy, proxyFromEnv } from "../../src/client/proxy-env.js";

describe("proxyFromEnv", () => {
  test("wss: reads https_proxy, ws: reads http_proxy, both fall back to all_proxy", () => {
    const env = { https_proxy: "http://tls-proxy:3128", http_proxy: "http://plain-proxy:3128", all_proxy: "socks5://any:1080" };
    assert.equal(proxyFromEnv("example.com", 443, true, env), "http://tls-proxy:3128");
    assert.equal(proxyFromEnv("example.com", 80, false, env), "http://plain-proxy:3128");
    assert.equal(proxyFromEnv("example.com", 443, true, { all_proxy: "socks5://any:1080" }), "socks5://any:1080");
    assert.equal(proxyFromEnv("example.com", 80, false, { ALL_PROXY: "http://any:8080" }), "http://any:8080");
    assert.equal(proxyFromEnv("example.com", 80, false, { https_proxy: "http://tls-proxy:3128" }), null);
  });

  test("upper case works, lower case wins, an empty value counts as unset", () => {
    assert.equal(proxyFromEnv("example.com", 443, true, { HTTPS_PROXY: "http://upper:1" }), "http://upper:1");
    assert.equal(proxyFromEnv("example.com", 443, true, { HTTPS_PROXY: "http://upper:1", https_proxy: "http://lower:2" }), "http://lower:2");
    assert.equal(proxyFromEnv("example.com", 443, true, { https_proxy: "", HTTPS_PROXY: "http://upper:1" }), "http://upper:1");
  });

  test("a proxy without a scheme is an HTTP proxy, as curl reads it", () => {
    assert.equal(proxyFromEnv("example.com", 80, false, { http_proxy: "proxy.corp:3128" }), "http://proxy.corp:3128");
  });

  test("NO_PROXY (either case) turns the proxy off for the hosts it lists", () => {
    const env = { http_proxy: "http://proxy:3128", NO_PROXY: "internal.example" };
    assert.equal(proxyFromEnv("ws.internal.example", 80, false, env), null);
    assert.equal(proxyFromEnv("public.example", 80, false, env), "http://proxy:3128");
  });
});

describe("bypassesProxy (NO_PROXY)", () => {
  test("* alone turns every proxy off; an empty list none", () => {
    assert.equal(bypassesProxy("anything.example", 443, "*"), true);
    assert.equal(bypassesProxy("anything.example", 443, ""), false);
    assert.equal(bypassesProxy("anything.example", 443, "  "), false);
  });

  test("a name matches itself and its subdomains, never a longer name that merely ends the same", () => {
    assert.equal(bypassesProxy("example.com", 443, "example.com"), true);
    assert.equal(bypassesProxy("ws.example.com", 443, "example.com"), true);
    assert.equal(bypassesProxy("a.b.example.com", 443, "example.com"), true);
    assert.equal(bypassesProxy("badexample.com", 443, "example.com"), false);
    assert.equal(bypassesProxy("example.com.evil", 443, "example.com"), false);
  });

  test("a leading dot or *. matches the same as the bare name (curl)", () => {
    for (const entry of [".example.com", "*.example.com"]) {
      assert.equal(bypassesProxy("ws.example.com", 443, entry), true, entry);
      assert.equal(bypassesProxy("example.com", 443, entry), true, entry);
      assert.equal(bypassesProxy("badexample.com", 443, entry), false, entry);
    }
  });

  test("names are compared without case, a trailing dot ignored", () => {
    assert.equal(bypassesProxy("WS.Example.COM", 443, "example.com"), true);
    assert.equal(bypassesProxy("ws.example.com.", 443, "EXAMPLE.com"), true);
  });

  test("entries separated by commas and spaces; the first match counts", () => {
    const list = "localhost, .internal ,10.0.0.0/8  example.org";
    assert.equal(bypassesProxy("localhost", 80, list), true);
    assert.equal(bypassesProxy("db.internal", 80, list), true);
    assert.equal(bypassesProxy("example.org", 80, list), true);
    assert.equal(bypassesProxy("example.net", 80, list), false);
  });

  test("an entry with a port matches that port only", () => {
    assert.equal(bypassesProxy("example.com", 8080, "example.com:8080"), true);
    assert.equal(bypassesProxy("example.com", 443, "example.com:8080"), false);
    assert.equal(bypassesProxy("ws.example.com", 8080, ".example.com:8080"), true);
    assert.equal(bypassesProxy("127.0.0.1", 9000, "127.0.0.1:9000"), true);
    assert.equal(bypassesProxy("127.0.0.1", 9001, "127.0.0.1:9000"), false);
    assert.equal(bypassesProxy("::1", 9000, "[::1]:9000"), true);
    assert.equal(bypassesProxy("::1", 9001, "[::1]:9000"), false);
  });

  test("IP addresses match exactly, networks by prefix, IPv6 bracketed or not", () => {
    assert.equal(bypassesProxy("127.0.0.1", 80, "127.0.0.1"), true);
    assert.equal(bypassesProxy("127.0.0.2", 80, "127.0.0.1"), false);
    assert.equal(bypassesProxy("10.1.2.3", 80, "10.0.0.0/8"), true);
    assert.equal(bypassesProxy("11.1.2.3", 80, "10.0.0.0/8"), false);
    assert.equal(bypassesProxy("::1", 80, "::1"), true);
    assert.equal(bypassesProxy("[::1]", 80, "[::1]"), true);
    assert.equal(bypassesProxy("fd00::5", 80, "fd00::/8"), true);
    assert.equal(bypassesProxy("fe80::5", 80, "fd00::/8"), false);
    // An address never matches a name by its text, and a name is never resolved.
    assert.equal(bypassesProxy("127.0.0.1", 80, "localhost"), false);
    assert.equal(bypassesProxy("localhost", 80, "127.0.0.1"), false);
    // A malformed prefix matches nothing.
    assert.equal(bypassesProxy("10.1.2.3", 80, "10.0.0.0/99"), false);
  });
});
