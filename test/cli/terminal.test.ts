/**
 * The wsx command in a real terminal (tmux), against `wsx serve --echo
 * --broadcast --verbose`. wsx connect: typed lines are sent and echoed, a
 * message that arrives while a line is being typed is printed above the
 * prompt without losing it, /ping prints the round trip, /close 4000 bye
 * closes with that code, Ctrl-C closes with 1000, and colour is used on the
 * terminal unless NO_COLOR is set. wsx bench: one progress line, updated in
 * place, then the table.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "../../src/index.js";
import { WSX, startWsxServe, type ServeProcess } from "../helpers/process.js";
import { Tmux, tmuxUnavailable } from "../helpers/tmux.js";

const ESC = "\u001b";

describe("wsx in a terminal", { skip: tmuxUnavailable() }, () => {
  let server: ServeProcess;
  let tmux: Tmux;
  before(async () => {
    server = await startWsxServe(["--echo", "--broadcast", "--verbose"]);
    tmux = new Tmux();
  });
  after(async () => {
    await tmux?.kill();
    await server?.child.stop();
  });

  const command = (): string => `'${process.execPath}' '${WSX}' connect ${server.url("/")}; echo EXIT=$?; sleep 30`;

  test("typing, a message arriving mid-line, /ping, /close 4000 bye", async () => {
    tmux.newSession("typing", command());
    await tmux.waitFor("typing", /\* type a message and press Enter/, "the prompt");
    assert.match(tmux.screen("typing"), /^\* connected to ws:\/\/127\.0\.0\.1:\d+\/$/m);

    tmux.type("typing", "hello there");
    tmux.press("typing", "Enter");
    await tmux.waitFor("typing", /^< hello there$/m, "the echo");

    // Another client speaks while a line is half typed: its message goes above the prompt.
    tmux.type("typing", "half typ");
    const other = await connect(server.url("/"));
    await other.send("from elsewhere");
    const screen = await tmux.waitFor("typing", /^< from elsewhere\n> half typ\s*$/m, "the message above the kept prompt");
    assert.doesNotMatch(screen, /half typ.*from elsewhere/, "the typed text is not mixed into the message");
    tmux.type("typing", "ed");
    tmux.press("typing", "Enter");
    await tmux.waitFor("typing", /^< half typed$/m, "the finished line, sent whole");
    await other.close();

    tmux.type("typing", "/ping");
    tmux.press("typing", "Enter");
    await tmux.waitFor("typing", /^< \[pong\] \d+\.\d\d ms$/m, "the pong's round trip");

    const colored = tmux.screen("typing", true);
    assert.ok(colored.includes(`${ESC}[32m<`), "received marks are green on a terminal");

    tmux.type("typing", "/close 4000 bye");
    tmux.press("typing", "Enter");
    const end = await tmux.waitFor("typing", /^EXIT=\d+$/m, "the exit code");
    assert.match(end, /^\* closed 4000 \(clean\)$/m);
    assert.match(end, /^EXIT=0$/m);
    await server.child.waitFor(/- #1 127\.0\.0\.1:\d+ closed 4000 "bye" \(clean\)/, "the server's log of the close");
  });

  test("Ctrl-C closes with 1000 and exits 0; NO_COLOR turns colour off", async () => {
    tmux.newSession("interrupt", command(), { NO_COLOR: "1" });
    await tmux.waitFor("interrupt", /\* type a message and press Enter/, "the prompt");
    tmux.type("interrupt", "echo me");
    tmux.press("interrupt", "Enter");
    await tmux.waitFor("interrupt", /^< echo me$/m, "the echo");
    assert.doesNotMatch(tmux.screen("interrupt", true), new RegExp(`${ESC}\\[(3\\d|2)m`), "no colour with NO_COLOR");
    tmux.type("interrupt", "never sent");
    tmux.press("interrupt", "C-c");
    const end = await tmux.waitFor("interrupt", /^EXIT=\d+$/m, "the exit code");
    assert.match(end, /^\* closed 1000 \(clean\)$/m);
    assert.match(end, /^EXIT=0$/m);
    const id = (await server.child.waitFor(/< #(\d+) echo me/, "the message in the server's log (--verbose)"))[1];
    await server.child.waitFor(new RegExp(`- #${id} 127\\.0\\.0\\.1:\\d+ closed 1000 \\(clean\\)`), "the server's log of the close");
    assert.doesNotMatch(server.child.stdout, /never sent/);
  });

  test("wsx bench: the progress line is updated in place, then gives way to the table", async (t) => {
    const echo = await startWsxServe(["--echo"]); // bench needs an echo: the broadcast server would cross-talk
    t.after(() => echo.child.stop());
    tmux.newSession("bench", `'${process.execPath}' '${WSX}' bench -c 2 -d 3 ${echo.url("/bench")}; echo EXIT=$?; sleep 30`);
    const running = await tmux.waitFor("bench", /^2\/3 s .* msg\/s .* errors 0/m, "the progress line after two seconds");
    assert.doesNotMatch(running, /1\/3 s/, "the first second's line was overwritten");
    const end = await tmux.waitFor("bench", /^EXIT=\d+$/m, "the exit code");
    assert.match(end, /^EXIT=0$/m);
    assert.match(end, /^msgs\/s +MB\/s +p50 ms +p90 ms +p99 ms +max ms$/m);
    assert.doesNotMatch(end, /\/3 s /, "the progress line is cleared before the table");
  });
});
