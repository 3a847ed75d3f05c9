import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { HandshakeError, UsageError } from "../../src/core/errors.js";
import { formatExtensions, parseExtensions, type ParsedExtension } from "../../src/core/http.js";
import { permessageDeflate, type DeflateOptions } from "../../src/deflate/index.js";
import { rng } from "../helpers/bytes.js";
import { pair, send, utf8 } from "./pair.js";

function offerOf(options: DeflateOptions): string {
  return formatExtensions(permessageDeflate(options).offers());
}

/** The server's answer to a raw Sec-WebSocket-Extensions header, formatted, or null. */
function answer(header: string, options: DeflateOptions = {}): string | null {
  const result = permessageDeflate(options).negotiate(parseExtensions(header));
  return result === null ? null : formatExtensions([result.response]);
}

function response(header: string): ParsedExtension {
  const parsed = parseExtensions(header);
  assert.equal(parsed.length, 1);
  return parsed[0]!;
}

describe("permessage-deflate options", () => {
  test("the factory is named and defaults are documented values", () => {
    const factory = permessageDeflate();
    assert.equal(factory.name, "permessage-deflate");
    assert.deepEqual(
      { ...factory.options },
      {
        serverNoContextTakeover: false,
        clientNoContextTakeover: false,
        serverMaxWindowBits: undefined,
        clientMaxWindowBits: true,
        threshold: 1024,
        asyncThreshold: 256 * 1024,
        level: 1,
        memLevel: 8,
      },
    );
  });

  test("options out of range are UsageErrors", () => {
    const bad: DeflateOptions[] = [
      { serverMaxWindowBits: 7 },
      { serverMaxWindowBits: 16 },
      { serverMaxWindowBits: 9.5 },
      { serverMaxWindowBits: "10" as unknown as number },
      { clientMaxWindowBits: 0 },
      { clientMaxWindowBits: 16 },
      { clientMaxWindowBits: "true" as unknown as boolean },
      { threshold: -1 },
      { threshold: 1.5 },
      { threshold: NaN },
      { asyncThreshold: -1 },
      { asyncThreshold: 0.5 },
      { asyncThreshold: NaN },
      { asyncThreshold: "big" as unknown as number },
      { level: 10 },
      { level: -2 },
      { memLevel: 0 },
      { memLevel: 10 },
      { serverNoContextTakeover: 1 as unknown as boolean },
    ];
    for (const options of bad) {
      assert.throws(
        () => permessageDeflate(options),
        (error: unknown) => error instanceof UsageError && error.code === "INVALID_DEFLATE_OPTION",
        JSON.stringify(options),
      );
    }
    assert.doesNotThrow(() => permessageDeflate({ serverMaxWindowBits: 8, clientMaxWindowBits: 15, threshold: 0, level: 9, memLevel: 9 }));
    assert.doesNotThrow(() => permessageDeflate({ threshold: Infinity, level: -1, memLevel: 1 }));
    assert.doesNotThrow(() => permessageDeflate({ asyncThreshold: 0 }));
    assert.doesNotThrow(() => permessageDeflate({ asyncThreshold: Infinity }));
  });
});

describe("permessage-deflate client offer", () => {
  test("default offer lets the server limit the client window", () => {
    assert.equal(offerOf({}), "permessage-deflate; client_max_window_bits");
  });

  test("every parameter", () => {
    assert.equal(
      offerOf({ serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 10, clientMaxWindowBits: 12 }),
      "permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=12",
    );
    assert.equal(offerOf({ clientMaxWindowBits: false }), "permessage-deflate");
    assert.equal(offerOf({ clientMaxWindowBits: true, serverMaxWindowBits: 8 }), "permessage-deflate; server_max_window_bits=8; client_max_window_bits");
  });

  test("offers() returns a fresh offer each time", () => {
    const factory = permessageDeflate();
    const [first] = factory.offers();
    first!.params["x"] = true;
    assert.equal(formatExtensions(factory.offers()), "permessage-deflate; client_max_window_bits");
  });
});

describe("permessage-deflate server negotiation", () => {
  test("accepts a plain offer with a plain answer", () => {
    assert.equal(answer("permessage-deflate"), "permessage-deflate");
    assert.equal(answer("permessage-deflate; client_max_window_bits"), "permessage-deflate");
  });

  test("picks the first acceptable of several offers in one header", () => {
    const header =
      "permessage-deflate; server_max_window_bits=7, permessage-deflate; foo=1, " +
      "permessage-deflate; client_max_window_bits=10, permessage-deflate";
    assert.equal(answer(header), "permessage-deflate; client_max_window_bits=10");
  });

  test("skips other extensions in the list", () => {
    assert.equal(answer("x-webkit-deflate-frame, permessage-deflate; server_no_context_takeover"), "permessage-deflate; server_no_context_takeover");
    assert.equal(answer("x-webkit-deflate-frame; no_context_takeover"), null);
  });

  test("server_max_window_bits: the smaller of the offer and the server's limit", () => {
    assert.equal(answer("permessage-deflate", { serverMaxWindowBits: 10 }), "permessage-deflate; server_max_window_bits=10");
    assert.equal(answer("permessage-deflate; server_max_window_bits=9", { serverMaxWindowBits: 10 }), "permessage-deflate; server_max_window_bits=9");
    assert.equal(answer("permessage-deflate; server_max_window_bits=12", { serverMaxWindowBits: 10 }), "permessage-deflate; server_max_window_bits=10");
    assert.equal(answer("permessage-deflate; server_max_window_bits=12"), "permessage-deflate; server_max_window_bits=12");
    // A quoted value is the same value (RFC 6455 section 9.1).
    assert.equal(answer('permessage-deflate; server_max_window_bits="11"'), "permessage-deflate; server_max_window_bits=11");
  });

  test("client_max_window_bits: limited when offered, offer declined when it cannot be", () => {
    const options = { clientMaxWindowBits: 10 };
    assert.equal(answer("permessage-deflate; client_max_window_bits", options), "permessage-deflate; client_max_window_bits=10");
    assert.equal(answer("permessage-deflate; client_max_window_bits=9", options), "permessage-deflate; client_max_window_bits=9");
    assert.equal(answer("permessage-deflate; client_max_window_bits=15", options), "permessage-deflate; client_max_window_bits=10");
    assert.equal(answer("permessage-deflate", options), null);
    assert.equal(
      answer("permessage-deflate; server_no_context_takeover, permessage-deflate; client_max_window_bits", options),
      "permessage-deflate; client_max_window_bits=10",
    );
    // Without a server limit, an offered value is echoed (binding) and no value means 15.
    assert.equal(answer("permessage-deflate; client_max_window_bits=12"), "permessage-deflate; client_max_window_bits=12");
  });

  test("no_context_takeover parameters", () => {
    assert.equal(answer("permessage-deflate; server_no_context_takeover"), "permessage-deflate; server_no_context_takeover");
    assert.equal(answer("permessage-deflate", { serverNoContextTakeover: true }), "permessage-deflate; server_no_context_takeover");
    assert.equal(answer("permessage-deflate", { clientNoContextTakeover: true }), "permessage-deflate; client_no_context_takeover");
    assert.equal(answer("permessage-deflate; client_no_context_takeover"), "permessage-deflate; client_no_context_takeover");
  });

  test("agreed parameters drive each side's codec", () => {
    const { server, client } = pair(
      { serverNoContextTakeover: true, serverMaxWindowBits: 11, clientMaxWindowBits: true },
      { clientMaxWindowBits: 9, clientNoContextTakeover: true },
    );
    const agreed = { serverNoContextTakeover: true, clientNoContextTakeover: true, serverMaxWindowBits: 11, clientMaxWindowBits: 9 };
    assert.deepEqual({ ...server.agreed }, agreed);
    assert.deepEqual({ ...client.agreed }, agreed);
    assert.equal(server.settings.deflateWindowBits, 11);
    assert.equal(server.settings.inflateWindowBits, 9);
    assert.equal(client.settings.deflateWindowBits, 9);
    assert.equal(client.settings.inflateWindowBits, 11);
    assert.equal(client.rsv, 4);
    assert.equal(server.name, "permessage-deflate");
  });

  test("invalid offers are skipped, never thrown", () => {
    const invalid = [
      "permessage-deflate; foo",
      "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
      "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
      "permessage-deflate; server_no_context_takeover=1",
      "permessage-deflate; client_no_context_takeover=\"\"",
      "permessage-deflate; server_max_window_bits",
      "permessage-deflate; server_max_window_bits=08",
      "permessage-deflate; server_max_window_bits=16",
      "permessage-deflate; server_max_window_bits=7",
      "permessage-deflate; server_max_window_bits=abc",
      'permessage-deflate; server_max_window_bits=""',
      "permessage-deflate; server_max_window_bits=+9",
      "permessage-deflate; client_max_window_bits=0x9",
      "permessage-deflate; client_max_window_bits=1e1",
    ];
    for (const header of invalid) assert.equal(answer(header), null, header);
    assert.equal(answer(`${invalid.join(", ")}, permessage-deflate`), "permessage-deflate");
    const factory = permessageDeflate();
    assert.equal(factory.negotiate([]), null);
    // Hand-made values that no parser would produce are still not a reason to throw.
    assert.equal(factory.negotiate([{ name: "permessage-deflate", params: { foo: true } } as unknown as ParsedExtension]), null);
    assert.equal(factory.negotiate([null as unknown as ParsedExtension]), null);
    assert.equal(factory.negotiate(null as unknown as ParsedExtension[]), null);
    assert.ok(factory.negotiate([{ name: "PerMessage-Deflate", params: {}, paramList: [] }]));
  });

  test("fuzz: random parameter strings never make negotiate throw", () => {
    const random = rng(0x7692);
    const names = [
      "server_no_context_takeover",
      "client_no_context_takeover",
      "server_max_window_bits",
      "client_max_window_bits",
      "SERVER_MAX_WINDOW_BITS",
      "x",
      "max_window_bits",
    ];
    const values = ["8", "9", "10", "15", "16", "7", "0", "08", "-9", "abc", '""', '"12"', "1", "99999999999999999999", "\"\\9\""];
    const factories = [
      permessageDeflate(),
      permessageDeflate({ clientMaxWindowBits: 9, serverMaxWindowBits: 10 }),
      permessageDeflate({ serverNoContextTakeover: true, clientNoContextTakeover: true }),
    ];
    let accepted = 0;
    for (let i = 0; i < 3000; i++) {
      const offers: string[] = [];
      for (let o = 1 + random.int(3); o > 0; o--) {
        let text = random.chance(0.9) ? "permessage-deflate" : "other";
        for (let p = random.int(5); p > 0; p--) {
          text += `; ${names[random.int(names.length)]}`;
          if (random.chance(0.6)) text += `=${values[random.int(values.length)]}`;
        }
        offers.push(text);
      }
      const header = offers.join(", ");
      const parsed = parseExtensions(header);
      for (const factory of factories) {
        const result = factory.negotiate(parsed);
        if (result === null) continue;
        accepted++;
        // Whatever was accepted is an answer a client making that offer accepts.
        const text = formatExtensions([result.response]);
        for (const [name, value] of parseExtensions(text)[0]!.paramList) {
          if (name.endsWith("_bits")) assert.match(String(value), /^(?:[89]|1[0-5])$/, text);
          else assert.equal(value, true, text);
        }
        result.extension.dispose();
      }
    }
    assert.ok(accepted > 100, `only ${accepted} offers accepted`);
  });

  test("random client and server options always agree and exchange data", () => {
    const random = rng(42);
    const bits = (): number => 8 + random.int(8);
    const message = utf8("permessage-deflate ".repeat(200));
    for (let i = 0; i < 150; i++) {
      const client: DeflateOptions = {
        serverNoContextTakeover: random.chance(0.5),
        clientNoContextTakeover: random.chance(0.5),
        serverMaxWindowBits: random.chance(0.5) ? bits() : undefined,
        clientMaxWindowBits: [true, false, bits()][random.int(3)]!,
        threshold: 0,
      };
      const server: DeflateOptions = {
        serverNoContextTakeover: random.chance(0.3),
        clientNoContextTakeover: random.chance(0.3),
        serverMaxWindowBits: random.chance(0.5) ? bits() : undefined,
        clientMaxWindowBits: random.chance(0.5) ? bits() : undefined,
        threshold: 0,
      };
      const offer = formatExtensions(permessageDeflate(client).offers());
      const result = permessageDeflate(server).negotiate(parseExtensions(offer));
      if (result === null) {
        assert.ok(typeof server.clientMaxWindowBits === "number" && client.clientMaxWindowBits === false, offer);
        continue;
      }
      const clientExtension = permessageDeflate(client).accept(response(formatExtensions([result.response])));
      assert.deepEqual({ ...clientExtension.agreed }, { ...result.extension.agreed });
      for (let n = 0; n < 2; n++) {
        send(clientExtension, result.extension, message);
        send(result.extension, clientExtension, message);
      }
      clientExtension.dispose();
      result.extension.dispose();
    }
  });
});

describe("permessage-deflate client check of the response", () => {
  function rejects(header: string, options: DeflateOptions = {}): void {
    assert.throws(
      () => permessageDeflate(options).accept(response(header)),
      (error: unknown) =>
        error instanceof HandshakeError && error.code === "INVALID_EXTENSION_RESPONSE" && error.status === 101 && /permessage-deflate/.test(error.message),
      header,
    );
  }

  test("unknown or repeated parameters", () => {
    rejects("permessage-deflate; foo");
    rejects("permessage-deflate; max_window_bits=10");
    rejects("permessage-deflate; server_no_context_takeover; server_no_context_takeover");
    rejects("permessage-deflate; client_no_context_takeover; client_no_context_takeover");
    rejects("permessage-deflate; server_max_window_bits=10; server_max_window_bits=10");
    rejects("permessage-deflate; client_max_window_bits=10; client_max_window_bits=10");
  });

  test("values on no_context_takeover", () => {
    rejects("permessage-deflate; server_no_context_takeover=1");
    rejects("permessage-deflate; client_no_context_takeover=true");
    rejects('permessage-deflate; client_no_context_takeover=""');
  });

  test("bad window bits", () => {
    for (const value of ["08", "16", "7", "abc", '""', "+9", "9.0", "010", "0", "-10", "99999999999999999"]) {
      rejects(`permessage-deflate; server_max_window_bits=${value}`);
      rejects(`permessage-deflate; client_max_window_bits=${value}`);
    }
    rejects("permessage-deflate; server_max_window_bits");
  });

  test("client_max_window_bits not offered, without a value, or above the offer", () => {
    rejects("permessage-deflate; client_max_window_bits=10", { clientMaxWindowBits: false });
    rejects("permessage-deflate; client_max_window_bits");
    rejects("permessage-deflate; client_max_window_bits=12", { clientMaxWindowBits: 10 });
  });

  test("server parameters the client asked for and did not get", () => {
    rejects("permessage-deflate; server_max_window_bits=11", { serverMaxWindowBits: 10 });
    rejects("permessage-deflate", { serverMaxWindowBits: 10 });
    rejects("permessage-deflate", { serverNoContextTakeover: true });
    rejects("other-extension");
  });

  test("valid responses", () => {
    const factory = permessageDeflate({ serverMaxWindowBits: 12, clientMaxWindowBits: 11 });
    const extension = factory.accept(response("permessage-deflate; server_max_window_bits=9; client_max_window_bits=10; client_no_context_takeover"));
    assert.deepEqual(
      { ...extension.agreed },
      { serverNoContextTakeover: false, clientNoContextTakeover: true, serverMaxWindowBits: 9, clientMaxWindowBits: 10 },
    );
    // The server may add server_max_window_bits and server_no_context_takeover unasked.
    const plain = permessageDeflate().accept(response("permessage-deflate; server_no_context_takeover; server_max_window_bits=8"));
    assert.deepEqual(
      { ...plain.agreed },
      { serverNoContextTakeover: true, clientNoContextTakeover: false, serverMaxWindowBits: 8, clientMaxWindowBits: 15 },
    );
    // A client that offered a value keeps to it when the server says nothing.
    const kept = permessageDeflate({ clientMaxWindowBits: 10, clientNoContextTakeover: true }).accept(response("permessage-deflate"));
    assert.equal(kept.agreed.clientMaxWindowBits, 10);
    assert.equal(kept.agreed.clientNoContextTakeover, true);
  });
});
