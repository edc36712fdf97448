export interface RetrySettings {
  firstSeconds: number;
  maxSeconds: number;
}

/**
 * Seconds until the next attempt after `attempts` earlier attempts that found nothing: `firstSeconds`,
 * doubling per attempt, at most `maxSeconds`.
 */
export function retryDelaySeconds(attempts: number, retry: RetrySettings): number {
  const doublings = Math.min(Math.max(0, Math.floor(attempts)), 52);
  return Math.min(retry.maxSeconds, retry.firstSeconds * 2 ** doublings);
}
