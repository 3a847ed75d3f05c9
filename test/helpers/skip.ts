/**
 * Skips and CI. A test that needs a real peer (a system program such as
 * redis-server or chromium) skips, with the reason, when it is missing;
 * scripts/run-tests.mjs lists every skip at the end of the run, and with
 * CI set a skip fails the run. A skip for something the machine itself
 * cannot do (no IPv6, no privileged port) is not a missing peer: give its
 * reason through {@link notPossibleHere} and CI lets it pass.
 */

/** Keep in step with scripts/run-tests.mjs. */
export const NOT_POSSIBLE_HERE = "not possible on this machine: ";

/** A skip reason CI accepts: the machine cannot do this (not a peer CI should have installed). */
export function notPossibleHere(why: string): string {
  return `${NOT_POSSIBLE_HERE}${why}`;
}
