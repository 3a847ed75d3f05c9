/** Promise helpers for the connection's fire-and-forget calls. */

export function noop(): void {}

/** A promise that also marks itself handled, so fire-and-forget calls never crash the process. */
export function settled<T>(executor: (resolve: (value: T) => void, reject: (error: Error) => void) => void): Promise<T> {
  const promise = new Promise<T>(executor);
  promise.catch(noop);
  return promise;
}

/** An already rejected promise, marked handled like {@link settled}. */
export function rejected(error: Error): Promise<never> {
  const promise = Promise.reject(error);
  promise.catch(noop);
  return promise;
}

/** Something waiting for a value that may also be refused. */
export interface Waiting<T> {
  resolve(value: T): void;
  reject(error: Error): void;
}

/**
 * Give a waiter a deadline (none when `ms` is undefined): after `ms` it is
 * dropped from wherever it waits and rejected with `timedOut()`; settling
 * it earlier clears the timer.
 */
export function armDeadline<T>(waiter: Waiting<T>, ms: number | undefined, drop: () => void, timedOut: () => Error): void {
  if (ms === undefined) return;
  const { resolve, reject } = waiter;
  const timer = setTimeout(() => {
    drop();
    reject(timedOut());
  }, ms);
  waiter.resolve = (value) => {
    clearTimeout(timer);
    resolve(value);
  };
  waiter.reject = (error) => {
    clearTimeout(timer);
    reject(error);
  };
}
