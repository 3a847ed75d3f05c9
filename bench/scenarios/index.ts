/**
 * The scenarios, in the order a full run takes them. Each is a module of
 * this folder whose default export is a {@link Scenario} named like its
 * file: adding a scenario is adding its file and its name here.
 */
import type { Scenario } from "../lib/bench.js";

export const SCENARIO_NAMES = [
  "small-binary",
  "small-text",
  "large",
  "idle",
  "handshake",
  "client",
  "client-text",
  "client-large",
  "broadcast",
  "slow-consumers",
  "compressed",
  "compression-memory",
  "zlib-cost",
  "socketio",
] as const;

/** Load the named scenario modules. */
export async function loadScenarios(names: readonly string[]): Promise<Scenario[]> {
  return Promise.all(
    names.map(async (name) => {
      const scenario = ((await import(`./${name}.js`)) as { default?: Scenario }).default;
      if (scenario === undefined || scenario.name !== name || typeof scenario.run !== "function") {
        throw new Error(`bench/scenarios/${name}.ts must export default a Scenario named "${name}"`);
      }
      return scenario;
    }),
  );
}
