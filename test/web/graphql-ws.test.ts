/**
 * wsx/web as a drop-in WebSocket constructor: graphql-ws's client, given
 * `webSocketImpl: WebSocket` from wsx/web, runs queries and a subscription
 * against graphql-ws's own server (`useServer` over the `ws` package). The
 * client negotiates its subprotocol, sends and parses JSON with
 * `onmessage`, and closes with its own codes: all through the standard API.
 */
import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { GraphQLInt, GraphQLNonNull, GraphQLObjectType, GraphQLSchema, GraphQLString } from "graphql";
import { createClient, type Client } from "graphql-ws";
import { useServer } from "graphql-ws/use/ws";
import { WebSocketServer as WsServer } from "ws";
import { WebSocket } from "../../src/web/index.js";
import { deadline, eventually } from "../helpers/net.js";

const schema = new GraphQLSchema({
  query: new GraphQLObjectType({
    name: "Query",
    fields: {
      hello: { type: GraphQLString, args: { name: { type: GraphQLString } }, resolve: (_, args: { name?: string }) => `hello ${args.name ?? "world"}` },
    },
  }),
  subscription: new GraphQLObjectType({
    name: "Subscription",
    fields: {
      countdown: {
        type: GraphQLInt,
        args: { from: { type: new GraphQLNonNull(GraphQLInt) } },
        subscribe: async function* (_: unknown, args: { from: number }) {
          for (let n = args.from; n >= 0; n--) yield { countdown: n };
        },
      },
    },
  }),
});

async function collect<T>(client: Client, query: string): Promise<T[]> {
  const results: T[] = [];
  await new Promise<void>((resolve, reject) => {
    client.subscribe<T>({ query }, { next: (value) => void results.push(value.data as T), error: reject, complete: resolve });
  });
  return results;
}

test("graphql-ws's client on wsx/web: a query and a subscription against graphql-ws's server", { timeout: 30_000 }, async () => {
  const wss = new WsServer({ port: 0, host: "127.0.0.1" });
  await new Promise<void>((resolve) => wss.once("listening", () => resolve()));
  let protocol: string | undefined;
  wss.on("connection", (socket) => (protocol = socket.protocol));
  const disposable = useServer({ schema }, wss);
  const closes: number[] = [];
  const client = createClient({
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}/graphql`,
    webSocketImpl: WebSocket,
    lazy: false,
    retryAttempts: 0,
    on: { closed: (event) => void closes.push((event as { code: number }).code) },
  });
  try {
    const hello = await deadline(collect<{ hello: string }>(client, '{ hello(name: "wsx") }'), 10_000, "query");
    assert.deepEqual(hello, [{ hello: "hello wsx" }]);
    const countdown = await deadline(collect<{ countdown: number }>(client, "subscription { countdown(from: 3) }"), 10_000, "subscription");
    assert.deepEqual(countdown.map((value) => value.countdown), [3, 2, 1, 0]);
    assert.equal(protocol, "graphql-transport-ws", "the subprotocol graphql-ws offers through the constructor");
  } finally {
    await client.dispose();
    await eventually(() => closes.length > 0, "the client's close event");
    await disposable.dispose();
    await new Promise<void>((resolve) => wss.close(() => resolve()));
  }
  assert.deepEqual(closes, [1000], "the client closed with its normal code, and saw the close event");
});
