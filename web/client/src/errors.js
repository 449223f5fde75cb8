// ChatError is every failure the client reports: a gateway error answer
// ({"error": code, "message": text}, docs/http-api.md), a network failure (code "network",
// status 0) or a rejected token (code "unauthorized", status 401).

/** @typedef {'network'|'unauthorized'|'forbidden'|'not_found'|'bad_request'|'too_large'|'rate_limited'|'upstream_error'|'upstream_timeout'|'unavailable'|'internal'|string} ChatErrorCode */

export class ChatError extends Error {
  /**
   * @param {ChatErrorCode} code machine-readable code (the gateway's `error` field)
   * @param {number} status HTTP status, 0 when the gateway was not reached
   * @param {string} message the gateway's own explanation (English, for logs and developers)
   * @param {{cause?: unknown, operation?: string}} [opts]
   */
  constructor(code, status, message, opts = {}) {
    super(message || code || `HTTP ${status}`, opts.cause !== undefined ? { cause: opts.cause } : undefined)
    this.name = 'ChatError'
    this.code = code || codeForStatus(status)
    this.status = status
    this.operation = opts.operation || ''
  }

  /** True when the token was rejected: the user must sign in again. */
  get unauthorized() {
    return this.status === 401
  }

  /** True when the gateway was not reached (offline, DNS, connection refused). */
  get network() {
    return this.code === 'network'
  }
}

// codeForStatus names a status the way the gateway does for answers without a body.
export function codeForStatus(status) {
  switch (status) {
    case 0: return 'network'
    case 400: return 'bad_request'
    case 401: return 'unauthorized'
    case 403: return 'forbidden'
    case 404: return 'not_found'
    case 409: return 'conflict'
    case 413: return 'too_large'
    case 429: return 'rate_limited'
    case 502: return 'upstream_error'
    case 503: return 'unavailable'
    case 504: return 'upstream_timeout'
  }
  return status >= 500 ? 'internal' : `http_${status}`
}

/** Whether an error from @microsoft/signalr (negotiate or connect) is a rejected token. */
export function isAuthRejection(err) {
  if (!err) return false
  if (err.statusCode === 401) return true
  // signalr wraps a failed negotiate in FailedToNegotiateWithServerError and keeps only
  // the text of the HttpError ("Unauthorized: Status code '401'").
  return /Status code '401'/.test(String(err.message || err))
}
