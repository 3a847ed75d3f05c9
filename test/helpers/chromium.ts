/**
 * Debian's Chromium for the browser tests, driven by playwright-core: where
 * it is, whether it is there, and the flags it is launched with (no sandbox
 * as root, no GPU, nothing fetched from the network on its own).
 */
import { existsSync } from "node:fs";
import { chromium, type Browser } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

export const LAUNCH_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
  "--disable-quic",
  "--disable-sync",
];

/** Why browser tests cannot run here, or false when Chromium is installed. */
export function chromiumUnavailable(): string | false {
  return existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (.ci/run installs Debian's chromium)`;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: LAUNCH_ARGS, timeout: 20_000 });
}
