/**
 * Send order while a streamed message is in progress: its fragments go out
 * over many turns, and sends made meanwhile must not land between them.
 */
import { noop } from "./promises.js";

export class SendOrder {
  private tail: Promise<void> | null = null;
  /** Sends encoded off the loop, queued or running: close and publish wait behind them. */
  offloaded = 0;

  /** Some task is still running or queued: new sends must go through {@link after}. */
  get busy(): boolean {
    return this.tail !== null;
  }

  /** Run `task` after every earlier task, whether they succeeded or failed. */
  after(task: () => Promise<void>): Promise<void> {
    const previous = this.tail ?? Promise.resolve();
    const run = previous.then(task, task);
    const tail = run.then(noop, noop);
    this.tail = tail;
    void tail.then(() => {
      if (this.tail === tail) this.tail = null;
    });
    run.catch(noop);
    return run;
  }
}
