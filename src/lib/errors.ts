// Errors declared once with a stable code; callers match on `code`, never on message text.
export type OcsErrorCode =
  | 'OCS_ERR_CONFIG'
  | 'OCS_ERR_NOT_FOUND'
  | 'OCS_ERR_CONFLICT'
  | 'OCS_ERR_VALIDATION'
  | 'OCS_ERR_REDIS_UNAVAILABLE'
  | 'OCS_ERR_SETUP'

export class OcsError extends Error {
  constructor(
    readonly code: OcsErrorCode,
    message: string,
    readonly field?: string,
  ) {
    super(message)
    this.name = 'OcsError'
  }
}
