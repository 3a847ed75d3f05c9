/**
 * A terminal for tests: programs run in tmux sessions on a private server
 * (`tmux -L NAME`), keys are typed with send-keys and the screen is read
 * with capture-pane. `kill()` stops the tmux server (and with it every
 * program in its sessions), makes sure its PID is gone and removes its socket.
 */
import { spawnSync } from "node:child_process";
import { rmSync } from "node:fs";
import { delay } from "./net.js";
import { childEnv } from "./process.js";

/** Why terminal tests cannot run here, or false when tmux is installed. */
export function tmuxUnavailable(): string | false {
  const probe = spawnSync("tmux", ["-V"], { encoding: "utf8" });
  return probe.error !== undefined || probe.status !== 0 ? "tmux is not installed (apt-get install tmux; .ci/run installs it)" : false;
}

export class Tmux {
  private serverPid: number | undefined;
  private socketPath: string | undefined;
  private readonly env: NodeJS.ProcessEnv;

  constructor(private readonly socket = `wsx-test-${process.pid}`) {
    // Colour is decided per session (-e NO_COLOR=1); none is forced from outside.
    this.env = childEnv();
    delete this.env["NO_COLOR"];
    delete this.env["TMUX"];
  }

  private run(args: string[]): string {
    const result = spawnSync("tmux", ["-L", this.socket, ...args], { encoding: "utf8", env: this.env });
    if (result.status !== 0) throw new Error(`tmux ${args.join(" ")}: ${result.stderr || result.error?.message}`);
    return result.stdout;
  }

  /** A new session running `command` in a shell, `width` x `height`, with extra environment variables. */
  newSession(name: string, command: string, env: Record<string, string> = {}, width = 120, height = 30): void {
    const vars = Object.entries(env).flatMap(([key, value]) => ["-e", `${key}=${value}`]);
    this.run(["new-session", "-d", "-s", name, "-x", String(width), "-y", String(height), ...vars, command]);
    if (this.serverPid === undefined) {
      const [pid, path] = this.run(["display-message", "-p", "-t", name, "#{pid} #{socket_path}"]).trim().split(" ");
      this.serverPid = Number(pid);
      this.socketPath = path;
    }
  }

  /** Type `keys` (tmux key names such as Enter or C-c are sent as keys when `literal` is false). */
  type(session: string, keys: string, literal = true): void {
    this.run(["send-keys", "-t", session, ...(literal ? ["-l"] : []), keys]);
  }

  press(session: string, ...keys: string[]): void {
    this.run(["send-keys", "-t", session, ...keys]);
  }

  /** The screen's text; with `escapes`, colours and attributes as escape sequences. */
  screen(session: string, escapes = false): string {
    return this.run(["capture-pane", "-p", ...(escapes ? ["-e"] : []), "-t", session]);
  }

  /** Poll the screen (bounded) until it matches `pattern`. */
  async waitFor(session: string, pattern: RegExp, what: string, attempts = 400, interval = 25): Promise<string> {
    let text = "";
    for (let i = 0; i < attempts; i++) {
      text = this.screen(session);
      if (pattern.test(text)) return text;
      await delay(interval);
    }
    throw new Error(`the screen of ${session} never showed ${what}:\n${text}`);
  }

  /** Stop the tmux server and every program in it; its PID must be gone. */
  async kill(): Promise<void> {
    spawnSync("tmux", ["-L", this.socket, "kill-server"], { env: this.env });
    const pid = this.serverPid;
    if (pid === undefined) return;
    for (let i = 0; i < 100 && alive(pid); i++) await delay(20);
    if (alive(pid)) process.kill(pid, "SIGKILL");
    if (this.socketPath !== undefined) rmSync(this.socketPath, { force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
