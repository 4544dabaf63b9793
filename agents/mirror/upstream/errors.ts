// Failures of the upstream path. "Not there" is not an error (callers get undefined); these are for
// "could not find out" or "cannot serve it", which the server answers with a 404 all the same.

/** The registry failed: network error, timeout, 5xx, an unexpected status or a malformed answer. */
export class UpstreamError extends Error {
  override readonly name = 'UpstreamError';
}

/** The blob does not fit in the spool's size bound, even after evicting every completed spool. */
export class SpoolFullError extends Error {
  override readonly name = 'SpoolFullError';
}

/** Writing the spool file failed (disk full, I/O error): not retried, since upstream is not at fault. */
export class SpoolWriteError extends Error {
  override readonly name = 'SpoolWriteError';
}
