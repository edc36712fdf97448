import { createHash, timingSafeEqual } from 'node:crypto';
import { CollectorConfigError, type AgentAuthOptions } from './options.ts';

/**
 * Agent authentication with one shared secret.
 *
 * The agent (`opentelemetry-ebpf-profiler`) has no token flag of its own any more: its supported deployment
 * is the `otelcol-ebpf-profiler` collector build, whose `otlp` / `otlphttp` exporters send credentials as
 * `authorization: Bearer <token>` — either through the `bearertokenauth` extension or a `headers:` entry.
 * On gRPC that is request metadata `authorization`, on HTTP the `Authorization` header; we accept exactly that.
 */

export type AuthVerdict = { ok: true } | { ok: false; message: string };

export interface AgentAuthenticator {
  readonly enabled: boolean;
  /** `authorization` is the raw header / metadata value, undefined when the request had none. */
  verify(authorization: string | undefined): AuthVerdict;
}

const BEARER = /^Bearer[ \t]+(.+)$/i;

export function createAgentAuthenticator(options: AgentAuthOptions): AgentAuthenticator {
  if (options.disabled === true) {
    return { enabled: false, verify: () => ({ ok: true }) };
  }
  const token = options.secretToken?.trim();
  if (!token) {
    throw new CollectorConfigError(
      'no agent token configured: set collector.auth.secretToken (agents send it as "authorization: Bearer <token>"), ' +
        'or set collector.auth.disabled: true to accept unauthenticated agents',
    );
  }
  // Comparing digests keeps the comparison constant-time whatever the presented token's length.
  const expected = digest(token);
  return {
    enabled: true,
    verify(authorization) {
      if (authorization === undefined || authorization === '') {
        return { ok: false, message: 'missing agent token: send "authorization: Bearer <token>"' };
      }
      const match = BEARER.exec(authorization.trim());
      if (!match) {
        return { ok: false, message: 'authorization must use the Bearer scheme: "Bearer <token>"' };
      }
      if (!timingSafeEqual(digest(match[1].trim()), expected)) {
        return { ok: false, message: "agent token does not match the collector's token" };
      }
      return { ok: true };
    },
  };
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}
