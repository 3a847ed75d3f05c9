// A node:test reporter that records every skipped test or suite, one JSON
// line each ({ file, name, suite, reason }), for scripts/run-tests.mjs to
// summarise once the run is over. (Node 20 reports a skip as a "test:pass"
// whose data carries `skip`: true or the reason given.)
export default async function* skipReporter(source) {
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const { skip, name, file, details } = event.data;
    if (skip === undefined || skip === false) continue;
    const reason = typeof skip === "string" && skip !== "" ? skip : "(no reason given)";
    yield `${JSON.stringify({ file, name, suite: details?.type === "suite", reason })}\n`;
  }
}
