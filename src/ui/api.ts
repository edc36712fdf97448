/** Thin fetch wrappers: every error becomes an Error carrying the server's message. */
export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

export async function getJson<T>(path: string, params: URLSearchParams): Promise<T> {
  const response = await fetch(`${path}?${params.toString()}`);
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

export interface Sampling {
  samplingLevel: number;
  samplingRate: number;
  scale: number;
  eventsRead: number;
}

export interface ImpactPerSample {
  cpuSeconds: number;
  annualCoreHours: number;
  annualCo2Tons: number;
  annualCostUsd: number;
}

export interface CompactFlamegraph {
  sampling: Sampling;
  totalCount: number;
  size: number;
  impactPerSample: ImpactPerSample;
  frames: {
    label: string[];
    frameType: number[];
    inline: boolean[];
    sourceFile: string[];
    sourceLine: number[];
    executable: string[];
    symbolized: boolean[];
  };
  nodes: {
    parent: number[];
    frame: number[];
    total: number[];
    self: number[];
    baselineTotal?: number[];
    baselineSelf?: number[];
  };
  baseline?: { sampling: Sampling; totalCount: number; scale: number };
  missingStackTraces: number;
}
