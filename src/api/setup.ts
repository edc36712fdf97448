/**
 * "Add data": what a reader needs to send profiles to this server — the OpenTelemetry Collector configuration, the
 * standalone agent's command line, a Kubernetes DaemonSet and the symbol upload — with this server's addresses
 * and, for someone who may see it, the agents' token filled in.
 */
import type { FastifyInstance } from 'fastify';
import type { SymbolUploadTarget } from '../query/missing-symbols.ts';
import { pushSymbolsCommand } from '../query/index.ts';
import { requireReaderAuth } from './auth/require.ts';
import type { Reader } from './auth/reader-access.ts';

export interface AgentEndpoints {
  grpc: { host: string; port: number; tls: boolean };
  otlpHttp: { host: string; port: number; tls: boolean };
  /** Undefined when agent authentication is off. */
  token?: { value: string; file?: string };
  /** The profiler release the instructions name (the one Uniprof is tested with). */
  agentVersion: string;
  symbolUpload: SymbolUploadTarget;
}

export interface SetupInstructions {
  grpcEndpoint: string;
  grpcTls: boolean;
  otlpHttpUrl: string;
  auth: {
    required: boolean;
    /** Only for a reader who logged in as a user (a person): programs with read tokens get `tokenSource`. */
    token?: string;
    /** A shell expression that yields the token where it is kept, or a placeholder. */
    tokenSource: string;
  };
  agentVersion: string;
  collectorConfig: string;
  collectorCommand: string;
  standaloneCommand: string;
  standaloneNote: string;
  kubernetesManifest: string;
  symbolsCommand: string;
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::', '[::]', '']);

/** A listener bound to every interface is named by the host the reader reached this server as. */
function reachableHost(bound: string, readerHost: string): string {
  const host = WILDCARD_HOSTS.has(bound) ? readerHost : bound;
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}

export function setupInstructions(
  endpoints: AgentEndpoints,
  readerHost: string,
  reader: Reader | undefined,
): SetupInstructions {
  const grpcEndpoint = `${reachableHost(endpoints.grpc.host, readerHost)}:${endpoints.grpc.port}`;
  const httpScheme = endpoints.otlpHttp.tls ? 'https' : 'http';
  const otlpHttpUrl = `${httpScheme}://${reachableHost(endpoints.otlpHttp.host, readerHost)}:${endpoints.otlpHttp.port}/v1development/profiles`;
  const token = endpoints.token;
  const tokenSource = token?.file ? `$(sudo cat ${token.file})` : '<collector.auth.secretToken>';
  const shownToken = token && reader?.kind === 'user' ? token.value : undefined;
  return {
    grpcEndpoint,
    grpcTls: endpoints.grpc.tls,
    otlpHttpUrl,
    auth: { required: token !== undefined, token: shownToken, tokenSource },
    agentVersion: endpoints.agentVersion,
    collectorConfig: collectorConfig(grpcEndpoint, endpoints.grpc.tls, token !== undefined),
    collectorCommand: collectorCommand(token !== undefined, shownToken ?? tokenSource),
    standaloneCommand: `sudo ./ebpf-profiler -collection-agent ${grpcEndpoint}${endpoints.grpc.tls ? '' : ' -disable-tls'}`,
    standaloneNote: token
      ? 'The standalone profiler sends no token, and this server requires one: run the profiler in the ' +
        'OpenTelemetry Collector (above), or turn agent authentication off on a trusted network ' +
        '(collector.auth.disabled: true).'
      : 'Agent authentication is off on this server: any client that reaches the port may send profiles.',
    kubernetesManifest: kubernetesManifest(grpcEndpoint, endpoints.grpc.tls, token !== undefined),
    symbolsCommand: pushSymbolsCommand(endpoints.symbolUpload, ''),
  };
}

function collectorConfig(endpoint: string, tls: boolean, withToken: boolean): string {
  // bearertokenauth refuses plaintext connections, so without TLS the token goes in a header instead.
  const lines = [
    ...(withToken && tls
      ? ['extensions:', '  bearertokenauth/uniprof:', '    token: "${env:UNIPROF_TOKEN}"']
      : []),
    'receivers:',
    '  profiling: {}',
    'processors:',
    '  resourcedetection:',
    '    detectors: [system]',
    '    system:',
    '      resource_attributes:',
    '        host.id: { enabled: true }',
    '        host.arch: { enabled: true }',
    '        os.description: { enabled: true }',
    'exporters:',
    '  otlp/uniprof:',
    `    endpoint: ${endpoint}`,
    tls ? '    tls: { ca_file: /etc/otelcol/uniprof-ca.pem }' : '    tls: { insecure: true }',
    ...(withToken && tls ? ['    auth: { authenticator: bearertokenauth/uniprof }'] : []),
    ...(withToken && !tls ? ['    headers: { authorization: "Bearer ${env:UNIPROF_TOKEN}" }'] : []),
    'service:',
    ...(withToken && tls ? ['  extensions: [bearertokenauth/uniprof]'] : []),
    '  pipelines:',
    '    profiles:',
    '      receivers: [profiling]',
    '      processors: [resourcedetection]',
    '      exporters: [otlp/uniprof]',
  ];
  return `${lines.join('\n')}\n`;
}

function collectorCommand(withToken: boolean, token: string): string {
  const run = 'sudo -E otelcol-ebpf-profiler --config otelcol.yaml --feature-gates=+service.profilesSupport';
  return withToken ? `export UNIPROF_TOKEN="${token}"\n${run}` : run;
}

function kubernetesManifest(endpoint: string, tls: boolean, withToken: boolean): string {
  const config = collectorConfig(endpoint, tls, withToken)
    .trimEnd()
    .split('\n')
    .map((line) => `    ${line}`)
    .join('\n');
  return `apiVersion: v1
kind: ConfigMap
metadata: { name: uniprof-profiler }
data:
  otelcol.yaml: |
${config}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: { name: uniprof-profiler }
spec:
  selector: { matchLabels: { app: uniprof-profiler } }
  template:
    metadata: { labels: { app: uniprof-profiler } }
    spec:
      hostPID: true
      containers:
        - name: profiler
          image: <your otelcol-ebpf-profiler image>
          args: [--config=/etc/otelcol/otelcol.yaml, --feature-gates=+service.profilesSupport]
          securityContext: { privileged: true }
${withToken ? '          env: [{ name: UNIPROF_TOKEN, valueFrom: { secretKeyRef: { name: uniprof-agent-token, key: token } } }]\n' : ''}          volumeMounts: [{ name: config, mountPath: /etc/otelcol }]
      volumes: [{ name: config, configMap: { name: uniprof-profiler } }]
`;
}

/**
 * `GET /api/setup`: the instructions for this server, as the reader asking may see them. `endpoints` is asked
 * per request: the ports are known only once the listeners are bound (port 0 picks one).
 */
export function registerSetupRoute(app: FastifyInstance, endpoints: () => AgentEndpoints | undefined): void {
  requireReaderAuth(app, 'the setup instructions');
  app.get('/api/setup', async (request, reply) => {
    const known = endpoints();
    if (!known)
      return reply.code(503).send({ error: 'unavailable', message: 'the agent listeners are not up yet' });
    return setupInstructions(known, request.hostname.replace(/:\d+$/, ''), request.reader);
  });
}
