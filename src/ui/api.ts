/** Thin fetch wrappers: every error becomes an Error carrying the server's message. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** Off to the login page, back to this view afterwards (the session ended or never was). */
export function toLoginPage(): void {
  location.assign(`/ui/login?next=${encodeURIComponent(location.pathname)}${location.hash}`);
}

export async function getJson<T>(path: string, params: URLSearchParams): Promise<T> {
  const response = await fetch(`${path}?${params.toString()}`);
  if (response.status === 401) toLoginPage();
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new ApiError(`${response.status}: ${text.slice(0, 200)}`, response.status);
  }
  if (!response.ok) {
    const message = (body as { message?: string }).message ?? response.statusText;
    throw new ApiError(message, response.status);
  }
  return body as T;
}

// The API's response types are the query layer's own (type-only imports, erased from the bundle), so a change
// on the server side that the UI does not follow fails type-checking.
export type { SamplingInfo as Sampling } from '../query/run.ts';
export type { ImpactPerSample } from '../query/impact.ts';
export type { CompactFlamegraph } from '../query/flamegraph.ts';
