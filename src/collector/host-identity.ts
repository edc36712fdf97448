/**
 * Which host a profile comes from, and what it is called: from the resource attributes the sender set (the
 * OpenTelemetry Collector's `resourcedetection` processor sets `host.id`, `host.name`, `host.ip`, `os.*`),
 * else from the connection (the standalone agent sets none, so its peer address must name it: a fleet must
 * never collapse into one unnamed host when grouped by host name).
 */
import { Attr } from './attributes.ts';

/** Host fields for requests whose resource attributes name no host (the standalone agent sends none). */
export interface PeerHost {
  hostId?: string;
  hostName?: string;
  hostIp?: string;
}

export interface HostIdentity {
  hostId: string;
  hostName: string | undefined;
  hostIp: string | undefined;
  osKernel: string | undefined;
}

/** The host ID of a request that names no host and came over no connection with an address. */
export const UNKNOWN_HOST = 'unknown';

/**
 * `host.ip` is a list in the semantic conventions (every address of the host); attribute values arrive here
 * as text, lists joined by commas (anyValueText). The host's IP field keeps the first.
 */
function firstAddress(text: string | undefined): string | undefined {
  if (!text) return undefined;
  const first = text.split(',')[0].trim();
  return first || undefined;
}

/**
 * The kernel release from an `os.description` in the uname form the OpenTelemetry Go SDK writes on Linux:
 * `Linux <node> <release> <version> <machine>`, alone or in parentheses after the distribution's name
 * (`Debian GNU/Linux 12 (bookworm) (Linux host 6.1.0-18-amd64 #1 SMP … x86_64)`).
 */
export function kernelReleaseFromDescription(description: string | undefined): string | undefined {
  if (!description) return undefined;
  return /(?:^|\()Linux \S+ (\d+\.\d+\S*)/.exec(description)?.[1];
}

/**
 * Host name: `host.name`, else the peer's name, else the host's IP (an attribute or the peer address), so hosts that name themselves nowhere are
 * still told apart by address. Host ID: `host.id`, else the peer's ID, else the host name. Kernel: `os.kernel`, else the release in `os.description` (`os.version` from
 * resource detection is the distribution's version, not the kernel's), else `os.version`.
 */
export function hostIdentity(attributes: ReadonlyMap<string, string>, peer: PeerHost): HostIdentity {
  const hostIp = firstAddress(attributes.get(Attr.hostIp)) || peer.hostIp || undefined;
  const hostName = attributes.get(Attr.hostName) || peer.hostName || hostIp;
  return {
    hostId: attributes.get(Attr.hostId) || peer.hostId || hostName || UNKNOWN_HOST,
    hostName,
    hostIp,
    osKernel:
      attributes.get(Attr.osKernel) ||
      kernelReleaseFromDescription(attributes.get(Attr.osDescription)) ||
      attributes.get(Attr.osVersion) ||
      undefined,
  };
}
