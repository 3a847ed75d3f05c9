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
