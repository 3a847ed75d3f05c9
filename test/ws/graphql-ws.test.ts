/**
 * graphql-ws's server (`useServer` from graphql-ws/use/ws) on wsx/ws's
 * WebSocketServer, with graphql-ws's client (over the `ws` package): a
 * query, and a subscription streaming several results. useServer sets
 * `handleProtocols` on the server's options after construction, so the
 * subprotocol it negotiates shows the facade reads its options live.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { GraphQLInt, GraphQLNonNull, GraphQLObjectType, GraphQLSchema, GraphQLString } from "graphql";
import { createClient } from "graphql-ws";
import { useServer } from "graphql-ws/use/ws";
import { WebSocket as WsClient } from "ws";
import { WebSocket, WebSocketServer } from "../../src/ws/index.js";
import { deadline } from "../helpers/net.js";

const T = { timeout: 30_000 };

const schema = new GraphQLSchema({
  query: new GraphQLObjectType({
    name: "Query",
    fields: { hello: { type: GraphQLString, resolve: () => "world" } },
  }),
  subscription: new GraphQLObjectType({
    name: "Subscription",
    fields: {
      count: {
        type: new GraphQLNonNull(GraphQLInt),
        args: { to: { type: new GraphQLNonNull(GraphQLInt) } },
        subscribe: async function* (_root: unknown, args: { to: number }) {
          for (let i = 1; i <= args.to; i++) {
            await new Promise((resolve) => setImmediate(resolve));
            yield { count: i };
          }
        },
      },
    },
  }),
});

test("graphql-ws server on wsx/ws streams a subscription to graphql-ws's client", T, async () => {
  const http = createServer();
  const wss = new WebSocketServer({ server: http, path: "/graphql" });
  const protocols: string[] = [];
  wss.on("connection", (socket) => {
    assert.ok(socket instanceof WebSocket);
    protocols.push(socket.protocol);
  });
  const disposable = useServer({ schema }, wss as never);
  http.listen(0, "127.0.0.1");
  await once(http, "listening");
  const url = `ws://127.0.0.1:${(http.address() as AddressInfo).port}/graphql`;
  const client = createClient({ url, webSocketImpl: WsClient, lazy: false, retryAttempts: 0 });
  try {
    const query = client.iterate<{ hello: string }>({ query: "{ hello }" });
    const first = await deadline(query.next(), 10_000, "query result");
    assert.deepEqual(first.value, { data: { hello: "world" } });

    const counts: number[] = [];
    const subscription = client.iterate<{ count: number }>({ query: "subscription { count(to: 5) }" });
    await deadline(
      (async () => {
        for await (const result of subscription) counts.push(result.data!.count);
      })(),
      10_000,
      "subscription",
    );
    assert.deepEqual(counts, [1, 2, 3, 4, 5]);
    assert.deepEqual(protocols, ["graphql-transport-ws"], "one connection, with the subprotocol useServer's handleProtocols chose");
    assert.equal(wss.clients.size, 1);
  } finally {
    await client.dispose();
    await disposable.dispose();
    http.close();
  }
});
