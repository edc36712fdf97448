/**
 * Raised for any malformed, truncated or unsupported input. Callers catch it per file: one bad file must
 * never take down the process or affect other files.
 */
export class SymbolizerFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SymbolizerFormatError';
  }
}

export function formatError(what: string, offset?: number): SymbolizerFormatError {
  return new SymbolizerFormatError(
    offset === undefined ? what : `${what} (at offset 0x${offset.toString(16)})`,
  );
}
