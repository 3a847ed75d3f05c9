/**
 * Headless Chromium for the browser tests: Debian's package (which .ci/run
 * installs), driven by playwright-core, with the flags that keep it quiet
 * and sandbox-free in CI. Tests skip, saying why, when it is missing.
 */
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";
export const chromiumAvailable = existsSync(CHROMIUM);
export const CHROMIUM_MISSING = `${CHROMIUM} is not installed (.ci/run installs Debian's chromium)`;

const LAUNCH_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
  "--disable-quic",
  "--disable-sync",
];

/** Launch headless Chromium (close it with `browser.close()`). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS, timeout: 20_000 });
}
