/**
 * The request itself is wrong (malformed protobuf, an index out of range, a missing dictionary entry, bad
 * compression, too large). Receivers answer INVALID_ARGUMENT / 400 with the message and store nothing.
 */
export class InvalidRequestError extends Error {
  override readonly name = 'InvalidRequestError';
  /** A short, stable label for metrics (`rejects{reason=...}`). */
  readonly reason: string;

  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}
