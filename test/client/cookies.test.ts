/**
 * The cookieJar option with tough-cookie's CookieJar itself: Set-Cookie on a
 * 302 stored and sent on the next request, on the 101 too; Secure cookies
 * only over TLS; expired cookies never sent; each redirect asks the jar for
 * its own URL. Also any object with the same two methods, synchronous.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { CookieJar } from "tough-cookie";
import { connect, UsageError, type CookieJarLike, type ServerRequest } from "../../src/index.js";
import { LOOPBACK, listenHttpHead, lookupAs, type RawServer } from "../helpers/net.js";
import { fixtures, rejection, startServer, type TestServer } from "../helpers/wsx.js";

describe("connect() with a cookie jar (tough-cookie)", () => {
  let server: TestServer;
  let tlsServer: TestServer;
  let redirector: TestServer;
  const cookiesSeen: Array<string | undefined> = [];
  const record = async (ws: import("../../src/index.js").WebSocket, request: ServerRequest): Promise<void> => {
    cookiesSeen.push(request.headers["cookie"]);
    await ws.close();
  };
  before(async () => {
    server = await startServer("standalone", { headers: { "Set-Cookie": "greeting=hello; Path=/" } }, record);
    tlsServer = await startServer("tls", {}, record);
    redirector = await startServer("standalone", {
      authenticate: (request) => {
        if (request.path === "/login") {
          return { status: 302, headers: { "Set-Cookie": "session=abc123; Path=/; HttpOnly", Location: server.url("/app") } };
        }
        if (request.path === "/logout") {
          return { status: 302, headers: { "Set-Cookie": "session=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT", Location: server.url("/app") } };
        }
        return true;
      },
    });
  });
  after(async () => {
    await server.close();
    await tlsServer.close();
    await redirector.close();
  });

  const last = (): string | undefined => cookiesSeen.at(-1);

  test("a cookie set on a 302 is stored and sent with the redirected request", async () => {
    const jar = new CookieJar();
    const ws = await connect(redirector.url("/login"), { cookieJar: jar, redirect: true });
    await ws.closed;
    assert.match(last() ?? "", /(^|; )session=abc123(;|$)/);
    assert.equal(await jar.getCookieString(`http://${LOOPBACK}/`), "session=abc123; greeting=hello");
  });

  test("a cookie set on the 101 is stored and sent next time", async () => {
    const jar = new CookieJar();
    await (await connect(server.url("/first"), { cookieJar: jar })).closed;
    assert.equal(last(), undefined);
    await (await connect(server.url("/second"), { cookieJar: jar })).closed;
    assert.equal(last(), "greeting=hello");
  });

  test("an expired Set-Cookie on a redirect deletes the cookie: it is not sent", async () => {
    const jar = new CookieJar();
    await jar.setCookie("session=abc123; Path=/", `http://${LOOPBACK}/`);
    await (await connect(redirector.url("/logout"), { cookieJar: jar, redirect: true })).closed;
    assert.doesNotMatch(last() ?? "", /session=/);
  });

  test("a cookie whose expiry has passed is not sent", async () => {
    const jar = new CookieJar();
    await jar.setCookie("stale=1; Path=/; Expires=Wed, 01 Jan 2020 00:00:00 GMT", `http://${LOOPBACK}/`);
    await jar.setCookie("fresh=1; Path=/; Max-Age=3600", `http://${LOOPBACK}/`);
    await (await connect(tlsServer.url("/"), { cookieJar: jar, tls: { ca: fixtures.cert } })).closed;
    assert.equal(last(), "fresh=1");
  });

  test("a Secure cookie goes over wss:// only, never over ws://", async () => {
    // tough-cookie treats 127.0.0.1 and localhost as secure contexts (as browsers do) and
    // would send Secure cookies there over plain text: a name of its own, resolved to the loopback, is not.
    const lookup = lookupAs();
    const jar = new CookieJar();
    await jar.setCookie("token=s3cret; Path=/; Secure", "https://app.wsx.test/");
    await jar.setCookie("theme=dark; Path=/", "http://app.wsx.test/");
    await (await connect(`ws://app.wsx.test:${server.port}/plain`, { cookieJar: jar, lookup })).closed;
    assert.equal(last(), "theme=dark");
    const tls = { ca: fixtures.cert, servername: "localhost" };
    await (await connect(`wss://app.wsx.test:${tlsServer.port}/secure`, { cookieJar: jar, lookup, tls })).closed;
    assert.match(last() ?? "", /token=s3cret/);
    assert.match(last() ?? "", /theme=dark/);
  });

  test("the jar is asked for each redirect's own URL: a cookie for one host does not follow to another", async () => {
    const jar = new CookieJar();
    await jar.setCookie("only127=1; Path=/", `http://${LOOPBACK}/`);
    const hop = await startServer("standalone", { authenticate: () => ({ status: 307, headers: { Location: `ws://localhost:${server.port}/app` } }) });
    try {
      await (await connect(hop.url("/"), { cookieJar: jar, redirect: true })).closed;
      assert.equal(last(), undefined);
    } finally {
      await hop.close();
    }
  });

  test("the cookies option is sent beside the jar's cookies", async () => {
    const jar = new CookieJar();
    await jar.setCookie("fromJar=1; Path=/", `http://${LOOPBACK}/`);
    await (await connect(tlsServer.url("/"), { cookieJar: jar, cookies: { fixed: "2" }, tls: { ca: fixtures.cert } })).closed;
    assert.equal(last(), "fromJar=1; fixed=2");
  });
});

describe("connect() with any jar of the same shape", () => {
  let raw: RawServer;
  const heads: Array<Record<string, string>> = [];
  before(async () => {
    raw = await listenHttpHead((request) => {
      heads.push(request.headers);
      request.socket.end(
        "HTTP/1.1 302 Found\r\nSet-Cookie: a=1; Path=/\r\nSet-Cookie: b=2; Path=/\r\nSet-Cookie: c=3; Domain=elsewhere.example\r\nContent-Length: 0\r\n\r\n",
      );
    });
  });
  after(() => raw.close());

  test("a synchronous jar gets every Set-Cookie of the response; one it refuses does not stop the others", async () => {
    const stored: Array<[string, string]> = [];
    const jar: CookieJarLike = {
      getCookieString: () => "pre=0",
      setCookie(cookie, url) {
        if (cookie.includes("elsewhere")) throw new Error("not this host's domain");
        stored.push([cookie, url]);
      },
    };
    const error = await rejection(connect(`ws://${LOOPBACK}:${raw.port}/path`, { cookieJar: jar }));
    assert.equal((error as { status?: number }).status, 302);
    assert.equal(heads.at(-1)?.["cookie"], "pre=0");
    assert.deepEqual(stored, [
      ["a=1; Path=/", `http://${LOOPBACK}:${raw.port}/path`],
      ["b=2; Path=/", `http://${LOOPBACK}:${raw.port}/path`],
    ]);
  });

  test("a jar without the two methods, or a Cookie header beside a jar, is refused", async () => {
    await assert.rejects(connect(`ws://${LOOPBACK}:${raw.port}/`, { cookieJar: {} as CookieJarLike }), UsageError);
    const jar: CookieJarLike = { getCookieString: () => "", setCookie: () => undefined };
    const error = await rejection(connect(`ws://${LOOPBACK}:${raw.port}/`, { cookieJar: jar, headers: { Cookie: "x=1" } }));
    assert.equal((error as UsageError).code, "DUPLICATE_HEADER");
  });
});
