import type { SetupInstructions } from '../../api/setup.ts';
import { getJson } from '../api.ts';
import { escapeHtml } from '../format.ts';
import type { PageContext } from '../main.ts';

/** What an empty view shows: there is nothing in the range, and here is how to send something. */
export function emptyStateHtml(): string {
  return `<p class="notice empty-state">No samples in this range and filter. New here? <a href="#/setup">Add data</a>: connect an agent to this server.</p>`;
}

function block(id: string, text: string): string {
  return `<div class="copyable"><pre class="command" id="${id}">${escapeHtml(text)}</pre><button type="button" class="copy" data-copy="${id}">Copy</button></div>`;
}

export async function renderSetup({ root }: PageContext): Promise<void> {
  const setup = await getJson<SetupInstructions>('/api/setup', new URLSearchParams());
  const token = setup.auth.required
    ? setup.auth.token
      ? `<p>The agents' token: <code class="command" id="agent-token">${escapeHtml(setup.auth.token)}</code></p>`
      : `<p>The agents' token is kept on the server: <code class="command">${escapeHtml(setup.auth.tokenSource)}</code> (log in with a user name and password to see it here).</p>`
    : '<p class="notice">Agent authentication is off on this server: any client that reaches the port may send profiles.</p>';
  root.innerHTML = `
    <div class="setup">
      <h2>Add data</h2>
      <p>Agents send profiles over OTLP to <code id="grpc-endpoint">${escapeHtml(setup.grpcEndpoint)}</code> (gRPC${setup.grpcTls ? ', TLS' : ''})
        or <code>${escapeHtml(setup.otlpHttpUrl)}</code> (OTLP/HTTP). Uniprof is tested with the OpenTelemetry eBPF profiler ${escapeHtml(setup.agentVersion)}.</p>
      ${token}
      <h3>1. The profiler in an OpenTelemetry Collector (recommended)</h3>
      <p>Each profile then names its host (<code>resourcedetection</code>) and carries the token. Save as <code>otelcol.yaml</code>:</p>
      ${block('collector-config', setup.collectorConfig)}
      <p>and run it as root on every host to profile:</p>
      ${block('collector-command', setup.collectorCommand)}
      <h3>2. The standalone profiler</h3>
      ${block('standalone-command', setup.standaloneCommand)}
      <p class="muted">${escapeHtml(setup.standaloneNote)}</p>
      <h3>3. Kubernetes</h3>
      <p>A DaemonSet running the collector build on every node${setup.grpcTls ? " (add the CA that signed this server's certificate to the ConfigMap as <code>uniprof-ca.pem</code>)" : ''}${setup.auth.required ? ', its token from a Secret (<code>kubectl create secret generic uniprof-agent-token --from-literal=token=…</code>)' : ''}:</p>
      ${block('kubernetes-manifest', setup.kubernetesManifest)}
      <h3>4. Symbols for your own binaries</h3>
      <p>Native frames of stripped binaries get names once their debug info is uploaded (OS packages are found through debuginfod):</p>
      ${block('symbols-command', setup.symbolsCommand)}
    </div>`;
  root.querySelectorAll<HTMLButtonElement>('button.copy').forEach((button) =>
    button.addEventListener('click', () => {
      const text = root.querySelector(`#${button.dataset.copy}`)?.textContent ?? '';
      void navigator.clipboard?.writeText(text).then(
        () => (button.textContent = 'Copied'),
        () => (button.textContent = 'Select and copy'),
      );
    }),
  );
}
