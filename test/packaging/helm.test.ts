/**
 * The Helm chart (deploy/helm/uniprof): `helm lint` and `helm template` over every example value set, each
 * rendering validated strictly against the Kubernetes API schemas of 1.25 … 1.31, and what matters in the
 * rendered objects asserted (security context, probes, secrets referenced not inlined, embedded mode as one
 * pod on a claim, Elasticsearch mode with symbolizers and an HPA). The validator itself is shown to reject
 * manifests a cluster would reject.
 */
import { before, describe, it } from 'node:test';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { loadConfig } from '../../src/config/config.ts';
import { runLoadgen } from '../../src/loadgen/index.ts';
import { ROOT } from '../../scripts/package/inputs.ts';
import { ProcessOutput, SERVE_READY, servedAddresses } from '../support/serve.ts';
import {
  KUBERNETES_VERSIONS,
  provisionHelm,
  provisionKubeconform,
  provisionKubernetesSchemas,
} from '../peers/kubernetes-tools.ts';
import {
  CHART,
  helmLint,
  helmNotes,
  helmTemplate,
  kubeconform,
  parseManifests,
  valueSets,
  type Manifest,
} from './helm-chart.ts';

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean } };
}
interface Probe {
  httpGet: { path: string; port: string };
}
interface Container {
  name: string;
  image: string;
  args: string[];
  env: EnvVar[];
  ports: { name: string; containerPort: number }[];
  securityContext: Record<string, unknown> & { capabilities?: { drop?: string[] } };
  startupProbe?: Probe;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  volumeMounts: { name: string; mountPath: string }[];
}
interface Volume {
  name: string;
  persistentVolumeClaim?: { claimName: string };
  emptyDir?: { sizeLimit?: string };
  secret?: { secretName: string; items: { key: string; path: string }[] };
  configMap?: { name: string; items?: { key: string; path: string }[] };
}
interface PodSpec {
  serviceAccountName: string;
  automountServiceAccountToken: boolean;
  securityContext: Record<string, unknown> & { seccompProfile?: { type: string } };
  containers: Container[];
  volumes: Volume[];
}
type Deployment = Manifest & {
  spec: {
    replicas?: number;
    strategy?: { type: string };
    selector: { matchLabels: Record<string, string> };
    template: {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
      spec: PodSpec;
    };
  };
};
type Service = Manifest & {
  spec: {
    selector: Record<string, string>;
    ports: { name: string; port: number; targetPort: string; nodePort?: number }[];
  };
};
type Secret = Manifest & { data: Record<string, string> };
type ConfigMap = Manifest & { data: Record<string, string> };
type Hpa = Manifest & {
  spec: {
    scaleTargetRef: { kind: string; name: string };
    minReplicas: number;
    maxReplicas: number;
    metrics: { resource: { name: string; target: { averageUtilization: number } } }[];
  };
};
type Pdb = Manifest & {
  spec: {
    minAvailable?: number;
    maxUnavailable?: number;
    selector: { matchLabels: Record<string, string> };
  };
};
type Ingress = Manifest & {
  spec: {
    rules: {
      host: string;
      http: { paths: { backend: { service: { name: string; port: { name: string } } } }[] };
    }[];
  };
};

const NEWEST = KUBERNETES_VERSIONS[KUBERNETES_VERSIONS.length - 1];
const SECRET_ENV = /TOKEN|API_KEY|PASSWORD|USERNAME|USERS/;

let helm = '';
let kubeconformBinary = '';
let schemas = '';
/** Every value set rendered for every Kubernetes version: renders[set][version]. */
const renders = new Map<string, Map<string, string>>();

before(async () => {
  const started = Date.now();
  [helm, kubeconformBinary, schemas] = await Promise.all([
    provisionHelm(),
    provisionKubeconform(),
    provisionKubernetesSchemas(),
  ]);
  console.log(
    `helm, kubeconform and the Kubernetes schemas ready in ${((Date.now() - started) / 1000).toFixed(1)} s`,
  );
  for (const set of valueSets()) {
    const byVersion = new Map<string, string>();
    for (const version of KUBERNETES_VERSIONS) {
      const outcome = helmTemplate(helm, { valuesFile: set, kubeVersion: version });
      assert.equal(
        outcome.status,
        0,
        `helm template -f ci/${set} --kube-version ${version}: ${outcome.stderr}`,
      );
      byVersion.set(version, outcome.stdout);
    }
    renders.set(set, byVersion);
  }
});

function manifestsOf(set: string): Manifest[] {
  return parseManifests(renders.get(set)!.get(NEWEST)!);
}

function ofKind<T extends Manifest>(manifests: Manifest[], kind: string): T[] {
  return manifests.filter((m) => m.kind === kind) as T[];
}

function one<T extends Manifest>(manifests: Manifest[], kind: string, nameSuffix = ''): T {
  const found = ofKind<T>(manifests, kind).filter((m) => m.metadata.name.endsWith(nameSuffix));
  assert.equal(
    found.length,
    1,
    `one ${kind} named …${nameSuffix}, found ${found.map((m) => m.metadata.name)}`,
  );
  return found[0];
}

function envOf(container: Container, name: string): EnvVar | undefined {
  return container.env.find((e) => e.name === name);
}

function secretRef(container: Container, name: string): { name: string; key: string; optional?: boolean } {
  const ref = envOf(container, name)?.valueFrom?.secretKeyRef;
  assert.ok(ref, `${container.name}: ${name} comes from a Secret`);
  return ref;
}

function labelsMatch(selector: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

describe('Helm chart deploy/helm/uniprof', { timeout: 900_000 }, () => {
  it('has example value sets covering both modes', () => {
    const sets = valueSets();
    assert.ok(sets.length >= 5, `${sets}`);
    assert.ok(sets.some((s) => s.startsWith('embedded-')));
    assert.ok(sets.some((s) => s.startsWith('elasticsearch-')));
  });

  it("defaults the image to the chart's appVersion, which is the package's version", () => {
    const chart = parseYaml(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as {
      appVersion: string;
      kubeVersion: string;
    };
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(chart.appVersion, pkg.version);
    assert.equal(chart.kubeVersion, '>=1.25.0-0');
    const deployment = one<Deployment>(manifestsOf('embedded-default-values.yaml'), 'Deployment');
    assert.equal(deployment.spec.template.spec.containers[0].image, `ghcr.io/uniprof/uniprof:${pkg.version}`);
  });

  it('passes helm lint --strict with every value set, on the oldest and newest supported Kubernetes', () => {
    for (const set of valueSets()) {
      for (const version of [KUBERNETES_VERSIONS[0], NEWEST]) {
        const outcome = helmLint(helm, { valuesFile: set, kubeVersion: version });
        assert.equal(
          outcome.status,
          0,
          `helm lint ci/${set} (${version}):\n${outcome.stdout}${outcome.stderr}`,
        );
      }
    }
  });

  it('renders objects valid against the strict API schemas of every Kubernetes release 1.25 … 1.31', () => {
    for (const version of KUBERNETES_VERSIONS) {
      const files = Object.fromEntries(
        valueSets().map((set) => [set.replace(/\.yaml$/, ''), renders.get(set)!.get(version)!]),
      );
      const result = kubeconform(kubeconformBinary, schemas, version, files);
      const problems = result.resources.filter((r) => r.status !== 'statusValid');
      assert.deepEqual(problems, [], `Kubernetes ${version}`);
      for (const [set, text] of Object.entries(files)) {
        // Every rendered object was looked at: none skipped, none missed.
        const validated = result.resources.filter((r) => r.filename === `${set}.yaml`).length;
        assert.equal(validated, parseManifests(text).length, `${set} on ${version}`);
        assert.ok(validated >= 5, `${set} renders ${validated} objects`);
      }
    }
  });

  it('runs every pod as non-root with a read-only root, no capabilities, RuntimeDefault seccomp and probes', () => {
    for (const set of valueSets()) {
      for (const deployment of ofKind<Deployment>(manifestsOf(set), 'Deployment')) {
        const where = `${set} ${deployment.metadata.name}`;
        const pod = deployment.spec.template.spec;
        assert.equal(pod.securityContext.runAsNonRoot, true, where);
        assert.equal(pod.securityContext.seccompProfile?.type, 'RuntimeDefault', where);
        assert.equal(pod.automountServiceAccountToken, false, where);
        for (const container of pod.containers) {
          const sc = container.securityContext;
          assert.equal(sc.runAsNonRoot, true, where);
          assert.equal(sc.readOnlyRootFilesystem, true, where);
          assert.equal(sc.allowPrivilegeEscalation, false, where);
          assert.deepEqual(sc.capabilities?.drop, ['ALL'], where);
          const portNames = container.ports.map((p) => p.name);
          for (const [probe, path] of [
            [container.startupProbe, '/health'],
            [container.livenessProbe, '/health'],
            [container.readinessProbe, '/ready'],
          ] as const) {
            assert.equal(probe?.httpGet.path, path, where);
            assert.ok(portNames.includes(probe.httpGet.port), `${where}: probe port ${probe.httpGet.port}`);
            // The collector's api port: its /ready covers the agents' receivers and the UI/API listener.
            if (container.args[0] !== 'symbolizer') assert.equal(probe.httpGet.port, 'api', where);
          }
          // The only writable places: /tmp and the data directory.
          const mounts = container.volumeMounts.map((m) => m.mountPath);
          assert.ok(mounts.includes('/tmp') && mounts.includes('/data'), `${where}: ${mounts}`);
        }
      }
    }
  });

  it('takes tokens and credentials from Secrets, never from values inlined in a pod', () => {
    for (const set of valueSets()) {
      const manifests = manifestsOf(set);
      const secrets = new Map(ofKind<Secret>(manifests, 'Secret').map((s) => [s.metadata.name, s]));
      const values = parseYaml(readFileSync(join(CHART, 'ci', set), 'utf8')) as {
        auth?: { existingSecret?: string };
        readerAuth?: { existingSecret?: string };
        elasticsearch?: { auth?: { existingSecret?: string } };
      } | null;
      const external = [
        values?.auth?.existingSecret,
        values?.readerAuth?.existingSecret,
        values?.elasticsearch?.auth?.existingSecret,
      ].filter(Boolean);
      for (const deployment of ofKind<Deployment>(manifests, 'Deployment')) {
        for (const container of deployment.spec.template.spec.containers) {
          for (const env of container.env.filter((e) => SECRET_ENV.test(e.name))) {
            const where = `${set} ${container.name} ${env.name}`;
            assert.equal(env.value, undefined, `${where} is inlined`);
            const ref = env.valueFrom?.secretKeyRef;
            assert.ok(ref, where);
            const rendered = secrets.get(ref.name);
            if (rendered) assert.ok(ref.key in rendered.data, `${where}: key ${ref.key} in ${ref.name}`);
            else
              assert.ok(external.includes(ref.name), `${where}: ${ref.name} is neither rendered nor given`);
          }
        }
      }
    }
  });

  it('keeps token values given as values in its Secret only, base64-encoded', () => {
    const text = renders.get('embedded-custom-values.yaml')!.get(NEWEST)!;
    assert.ok(!text.includes('agent-token-from-values'), 'the agent token appears in clear');
    const secret = one<Secret>(parseManifests(text), 'Secret', '-tokens');
    assert.equal(Buffer.from(secret.data['agent-token'], 'base64').toString(), 'agent-token-from-values');
    assert.equal(
      Buffer.from(secret.data['symbol-upload-token'], 'base64').toString(),
      'upload-token-from-values',
    );
    assert.ok(!text.includes('read-token-from-values'), 'a read token appears in clear');
    assert.equal(
      Buffer.from(secret.data['read-token'], 'base64').toString(),
      'read-token-from-values-1,read-token-from-values-2',
    );
    assert.deepEqual(JSON.parse(Buffer.from(secret.data.users, 'base64').toString()), {
      alice: '$scrypt$ln=15,r=8,p=1$RRKGOSd8cOolrGeELB8Sdg$eC4YRQqsUtNXVXIktiSAlK81yPNbjhhX4ADCrCA4LwY',
    });
  });

  it('gives the read token and users to the pods serving the UI/API only, through secretKeyRef', () => {
    for (const set of valueSets()) {
      for (const deployment of ofKind<Deployment>(manifestsOf(set), 'Deployment')) {
        const container = deployment.spec.template.spec.containers[0];
        const where = `${set} ${container.name}`;
        const tokens = envOf(container, 'UNIPROF_API_AUTH_TOKENS');
        if (container.args[0] === 'symbolizer' || set === 'embedded-ephemeral-values.yaml') {
          assert.equal(tokens, undefined, where);
          continue;
        }
        assert.ok(tokens?.valueFrom?.secretKeyRef && tokens.value === undefined, where);
      }
    }
    const external = one<Deployment>(
      manifestsOf('elasticsearch-existing-secrets-values.yaml'),
      'Deployment',
      '-collector',
    ).spec.template.spec.containers[0];
    assert.deepEqual(secretRef(external, 'UNIPROF_API_AUTH_TOKENS'), {
      name: 'uniprof-readers-from-vault',
      key: 'api-tokens',
    });
    // A Secret of yours may hold users or not; without them each pod generates its admin password.
    assert.deepEqual(secretRef(external, 'UNIPROF_API_AUTH_USERS'), {
      name: 'uniprof-readers-from-vault',
      key: 'people',
      optional: true,
    });
    const defaults = one<Deployment>(manifestsOf('embedded-default-values.yaml'), 'Deployment').spec.template
      .spec.containers[0];
    assert.equal(envOf(defaults, 'UNIPROF_API_AUTH_USERS'), undefined, 'no users: admin password generated');
    const scaled = one<Deployment>(
      manifestsOf('elasticsearch-scaled-values.yaml'),
      'Deployment',
      '-collector',
    ).spec.template.spec.containers[0];
    assert.equal(secretRef(scaled, 'UNIPROF_API_AUTH_USERS').optional, false);
  });

  it('generates strong tokens when none are given', () => {
    const secret = one<Secret>(manifestsOf('embedded-default-values.yaml'), 'Secret', '-tokens');
    const agent = Buffer.from(secret.data['agent-token'], 'base64').toString();
    const upload = Buffer.from(secret.data['symbol-upload-token'], 'base64').toString();
    const read = Buffer.from(secret.data['read-token'], 'base64').toString();
    assert.match(agent, /^[A-Za-z0-9]{40}$/);
    assert.match(upload, /^[A-Za-z0-9]{40}$/);
    assert.match(read, /^[A-Za-z0-9]{40}$/);
    assert.equal(new Set([agent, upload, read]).size, 3);
  });

  it("writes a configuration that Uniprof's own loader accepts, matching the pods' ports and mounts", () => {
    const dir = mkdtempSync(join(tmpdir(), 'uniprof-helm-config-'));
    try {
      for (const set of valueSets()) {
        const manifests = manifestsOf(set);
        const file = join(dir, `${set}.config.yaml`);
        writeFileSync(file, one<ConfigMap>(manifests, 'ConfigMap', '-config').data['config.yaml']);
        for (const deployment of ofKind<Deployment>(manifests, 'Deployment')) {
          const container = deployment.spec.template.spec.containers[0];
          const where = `${set} ${container.name}`;
          const env = Object.fromEntries(
            container.env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value]),
          );
          assert.equal(env.UNIPROF_CONFIG, '/etc/uniprof/config/config.yaml', where);
          const config = loadConfig({ file, env: { ...env, UNIPROF_CONFIG: file } });
          const ports = Object.fromEntries(container.ports.map((p) => [p.name, p.containerPort]));
          if (container.args[0] === 'symbolizer') {
            assert.equal(ports.http, config.symbolizer.http.port, where);
          } else {
            assert.equal(ports.grpc, config.collector.grpc.port, where);
            assert.equal(ports.http, config.collector.http.port, where);
            assert.equal(ports.api, config.api.http.port, where);
            assert.equal(ports.api, 4320, where);
            assert.equal(config.api.http.host, '0.0.0.0', where);
            const values = parseYaml(readFileSync(join(CHART, 'ci', set), 'utf8')) as {
              readerAuth?: { enabled?: boolean };
            } | null;
            assert.equal(config.api.auth.disabled, values?.readerAuth?.enabled === false, where);
            if (ports.symbolizer !== undefined)
              assert.equal(ports.symbolizer, config.symbolizer.http.port, where);
          }
          assert.equal(config.collector.grpc.host, '0.0.0.0', where);
          assert.equal(config.symbolizer.http.host, '0.0.0.0', where);
          assert.equal(config.dataDir, '/data', where);
          const mounts = container.volumeMounts.map((m) => m.mountPath);
          const ca = config.output.elasticsearch.tls.ca;
          if (ca) assert.ok(mounts.includes(join(ca, '..')), `${where}: CA ${ca} is on a mounted volume`);
          assert.equal(config.output.type, set.startsWith('embedded-') ? 'embedded' : 'elasticsearch', where);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('connects Services, the HPA and the disruption budgets to pods that have what they name', () => {
    for (const set of valueSets()) {
      const manifests = manifestsOf(set);
      const deployments = ofKind<Deployment>(manifests, 'Deployment');
      for (const service of ofKind<Service>(manifests, 'Service')) {
        const pods = deployments.filter((d) =>
          labelsMatch(service.spec.selector, d.spec.template.metadata.labels),
        );
        assert.equal(pods.length, 1, `${set} ${service.metadata.name} selects one Deployment's pods`);
        const portNames = pods[0].spec.template.spec.containers.flatMap((c) => c.ports.map((p) => p.name));
        for (const port of service.spec.ports)
          assert.ok(portNames.includes(port.targetPort), `${set} ${port.name}`);
      }
      for (const hpa of ofKind<Hpa>(manifests, 'HorizontalPodAutoscaler')) {
        assert.ok(
          deployments.some((d) => d.metadata.name === hpa.spec.scaleTargetRef.name),
          set,
        );
      }
      for (const pdb of ofKind<Pdb>(manifests, 'PodDisruptionBudget')) {
        const selected = deployments.filter((d) =>
          labelsMatch(pdb.spec.selector.matchLabels, d.spec.template.metadata.labels),
        );
        assert.equal(selected.length, 1, `${set} ${pdb.metadata.name}`);
      }
      for (const ingress of ofKind<Ingress>(manifests, 'Ingress')) {
        for (const path of ingress.spec.rules.flatMap((r) => r.http.paths)) {
          const service = one<Service>(manifests, 'Service', path.backend.service.name);
          assert.ok(
            service.spec.ports.some((p) => p.name === path.backend.service.port.name),
            set,
          );
        }
      }
    }
  });

  it('embedded mode: one `uniprof serve` pod, replaced by Recreate, on a kept claim; no HPA or budget', () => {
    const manifests = manifestsOf('embedded-default-values.yaml');
    const deployment = one<Deployment>(manifests, 'Deployment');
    assert.equal(deployment.spec.replicas, 1);
    assert.equal(deployment.spec.strategy?.type, 'Recreate');
    const pod = deployment.spec.template.spec;
    assert.deepEqual(pod.containers[0].args, ['serve']);
    const claim = one<Manifest & { metadata: { annotations: Record<string, string> } }>(
      manifests,
      'PersistentVolumeClaim',
    );
    assert.equal(claim.metadata.annotations['helm.sh/resource-policy'], 'keep');
    const data = pod.volumes.find((v) => v.name === 'data');
    assert.equal(data?.persistentVolumeClaim?.claimName, claim.metadata.name);
    assert.ok(pod.containers[0].volumeMounts.some((m) => m.name === 'data' && m.mountPath === '/data'));
    assert.deepEqual(ofKind(manifests, 'HorizontalPodAutoscaler'), []);
    assert.deepEqual(ofKind(manifests, 'PodDisruptionBudget'), []);
    // The in-process symbolizer's upload port is reachable for symbtool, and it gets its token.
    assert.ok(one<Service>(manifests, 'Service').spec.ports.some((p) => p.name === 'symbolizer'));
    secretRef(pod.containers[0], 'UNIPROF_SYMBOLIZER_UPLOAD_TOKEN');
    secretRef(pod.containers[0], 'UNIPROF_COLLECTOR_AUTH_SECRET_TOKEN');
  });

  it("embedded mode's pod settings start the real `uniprof serve`: probes answer, the Secret's tokens admit agents and readers", async () => {
    // The rendered pod as a process: its args, its configuration file, its plain environment and the values of
    // the Secret keys it reads. What the pod gets from Kubernetes instead is replaced: the data volume by a
    // temporary directory, the pod's own network by loopback and free ports.
    const manifests = manifestsOf('embedded-default-values.yaml');
    const container = one<Deployment>(manifests, 'Deployment').spec.template.spec.containers[0];
    const secrets = new Map(ofKind<Secret>(manifests, 'Secret').map((s) => [s.metadata.name, s]));
    const work = mkdtempSync(join(tmpdir(), 'uniprof-helm-pod-'));
    const configFile = join(work, 'config.yaml');
    writeFileSync(configFile, one<ConfigMap>(manifests, 'ConfigMap', '-config').data['config.yaml']);
    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: work };
    for (const variable of container.env) {
      const ref = variable.valueFrom?.secretKeyRef;
      env[variable.name] = ref
        ? Buffer.from(secrets.get(ref.name)!.data[ref.key], 'base64').toString()
        : variable.value;
    }
    env.UNIPROF_CONFIG = configFile;
    Object.assign(env, {
      UNIPROF_DATA_DIR: join(work, 'data'),
      UNIPROF_COLLECTOR_GRPC_HOST: '127.0.0.1',
      UNIPROF_COLLECTOR_GRPC_PORT: '0',
      UNIPROF_COLLECTOR_HTTP_HOST: '127.0.0.1',
      UNIPROF_COLLECTOR_HTTP_PORT: '0',
      UNIPROF_API_HTTP_HOST: '127.0.0.1',
      UNIPROF_API_HTTP_PORT: '0',
      UNIPROF_SYMBOLIZER_HTTP_HOST: '127.0.0.1',
      UNIPROF_SYMBOLIZER_HTTP_PORT: '0',
      UNIPROF_LOG_LEVEL: 'warn',
    });
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'uniprof.mjs'), ...container.args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output = new ProcessOutput(child);
    try {
      await output.until(SERVE_READY);
      const stdout = output.stdout;
      const served = servedAddresses(stdout);
      assert.ok(served.symbolizer, 'serve runs the symbolizer');
      const addresses: Record<string, string | undefined> = { ...served, http: served.otlpHttp };
      assert.notEqual(addresses.api, addresses.http, 'the UI/API listens apart from the agents');
      assert.match(
        stdout,
        /agent auth\s+bearer token\n/,
        'the token comes from the environment, none generated',
      );
      assert.match(stdout, /symbol upload token from symbolizer.uploadToken/);
      assert.match(
        stdout,
        /read tokens from api\.auth\.tokens \(1\)/,
        'the read token comes from the Secret',
      );
      for (const probe of [container.startupProbe, container.livenessProbe, container.readinessProbe]) {
        const response = await fetch(`${addresses[probe!.httpGet.port]}${probe!.httpGet.path}`);
        assert.equal(response.status, 200, `${probe!.httpGet.port} ${probe!.httpGet.path}`);
      }
      const readToken = env.UNIPROF_API_AUTH_TOKENS!;
      const agentToken = env.UNIPROF_COLLECTOR_AUTH_SECRET_TOKEN!;
      const query = `${addresses.api}/api/topn/functions?from=now-1h`;
      const withToken = (token: string) => fetch(query, { headers: { authorization: `Bearer ${token}` } });
      const anonymous = await fetch(query);
      assert.equal(anonymous.status, 401, 'the API refuses a request without credentials');
      assert.equal((await withToken(agentToken)).status, 401, "the agents' token does not read");
      assert.equal((await withToken(`${readToken}x`)).status, 401, 'a wrong read token is refused');
      const read = await withToken(readToken);
      const body = await read.text();
      assert.equal(read.status, 200, body);
      const { self_count: before } = JSON.parse(body) as { self_count: number };
      assert.equal(before, 0, 'nothing ingested yet');
      const notOnAgentsPort = await fetch(`${addresses.http}/api/topn/functions?from=now-1h`, {
        headers: { authorization: `Bearer ${readToken}` },
      });
      assert.equal(notOnAgentsPort.status, 404, "the agents' port serves no profiles");
      const options = { target: addresses.grpc!, rate: 500, duration: 1, hosts: 2, timeoutMs: 30_000 };
      const admitted = await runLoadgen({ ...options, token: agentToken });
      assert.equal(admitted.errors, 0, JSON.stringify(admitted.errorMessages));
      assert.ok(admitted.samples > 0, 'samples acknowledged');
      const refused = await runLoadgen({ ...options, token: `${agentToken}x` });
      assert.equal(refused.samples, 0, 'a wrong token is refused');
      assert.ok(
        refused.errors > 0 && /UNAUTHENTICATED|unauth/i.test(JSON.stringify(refused.errorMessages)),
        JSON.stringify(refused.errorMessages),
      );
      const after = (await (await withToken(readToken)).json()) as { self_count: number };
      assert.ok(after.self_count > 0, 'the read token reads what the agents sent');
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 0, output.stderr);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      rmSync(work, { recursive: true, force: true });
    }
  });

  it('embedded mode on an existing claim, and without persistence or auth', () => {
    const custom = manifestsOf('embedded-custom-values.yaml');
    assert.deepEqual(ofKind(custom, 'PersistentVolumeClaim'), []);
    const customPod = one<Deployment>(custom, 'Deployment').spec.template.spec;
    assert.equal(
      customPod.volumes.find((v) => v.name === 'data')?.persistentVolumeClaim?.claimName,
      'uniprof-profiles',
    );
    assert.equal(customPod.containers[0].image, 'ghcr.io/uniprof/uniprof:0.1.0-rc.1');

    const ephemeral = manifestsOf('embedded-ephemeral-values.yaml');
    assert.deepEqual(ofKind(ephemeral, 'PersistentVolumeClaim'), []);
    const deployment = one<Deployment>(ephemeral, 'Deployment');
    assert.equal(deployment.spec.replicas, 1);
    const pod = deployment.spec.template.spec;
    assert.deepEqual(pod.volumes.find((v) => v.name === 'data')?.emptyDir, {});
    assert.equal(envOf(pod.containers[0], 'UNIPROF_COLLECTOR_AUTH_SECRET_TOKEN'), undefined);
    assert.equal(envOf(pod.containers[0], 'UNIPROF_SYMBOLIZER_UPLOAD_TOKEN'), undefined);
    assert.equal(envOf(pod.containers[0], 'UNIPROF_API_AUTH_TOKENS'), undefined);
    assert.ok(!pod.containers[0].ports.some((p) => p.name === 'symbolizer'));
    assert.deepEqual(
      one<Service>(ephemeral, 'Service').spec.ports.map((p) => [p.name, p.nodePort]),
      [
        ['grpc', 30417],
        ['http', 30418],
        ['api', 30420],
      ],
    );
  });

  it('Elasticsearch mode: autoscaled collectors with a budget, symbolizer replicas, ingresses, CA and API key', () => {
    const manifests = manifestsOf('elasticsearch-scaled-values.yaml');
    const collector = one<Deployment>(manifests, 'Deployment', '-collector');
    assert.equal(collector.spec.replicas, undefined, 'the HPA owns the replica count');
    assert.notEqual(collector.spec.strategy?.type, 'Recreate');
    const collectorContainer = collector.spec.template.spec.containers[0];
    assert.deepEqual(collectorContainer.args, ['collector']);
    secretRef(collectorContainer, 'UNIPROF_COLLECTOR_AUTH_SECRET_TOKEN');
    assert.equal(envOf(collectorContainer, 'UNIPROF_SYMBOLIZER_UPLOAD_TOKEN'), undefined);
    assert.deepEqual(collector.spec.template.spec.volumes.find((v) => v.name === 'data')?.emptyDir, {
      sizeLimit: '2Gi',
    });

    const hpa = one<Hpa>(manifests, 'HorizontalPodAutoscaler');
    assert.equal(hpa.apiVersion, 'autoscaling/v2');
    assert.deepEqual(hpa.spec.scaleTargetRef, {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: collector.metadata.name,
    });
    assert.deepEqual([hpa.spec.minReplicas, hpa.spec.maxReplicas], [3, 12]);
    assert.deepEqual(
      hpa.spec.metrics.map((m) => [m.resource.name, m.resource.target.averageUtilization]),
      [
        ['cpu', 65],
        ['memory', 80],
      ],
    );

    const symbolizer = one<Deployment>(manifests, 'Deployment', '-symbolizer');
    assert.equal(symbolizer.spec.replicas, 2);
    const symbolizerContainer = symbolizer.spec.template.spec.containers[0];
    assert.deepEqual(symbolizerContainer.args, ['symbolizer']);
    secretRef(symbolizerContainer, 'UNIPROF_SYMBOLIZER_UPLOAD_TOKEN');
    assert.equal(envOf(symbolizerContainer, 'UNIPROF_COLLECTOR_AUTH_SECRET_TOKEN'), undefined);
    one<Service>(manifests, 'Service', '-symbolizer');

    const budgets = ofKind<Pdb>(manifests, 'PodDisruptionBudget');
    assert.deepEqual(
      budgets.map((b) => [
        b.apiVersion,
        b.metadata.name.split('-').pop(),
        b.spec.minAvailable,
        b.spec.maxUnavailable,
      ]),
      [
        ['policy/v1', 'collector', 2, undefined],
        ['policy/v1', 'symbolizer', undefined, 1],
      ],
    );
    // The readers' Ingress goes to the UI/API port; the agents' OTLP/HTTP and gRPC ingresses to theirs.
    assert.deepEqual(
      ofKind<Ingress>(manifests, 'Ingress').map((i) => [
        i.metadata.name,
        i.spec.rules[0].host,
        i.spec.rules[0].http.paths[0].backend.service.port.name,
      ]),
      [
        ['prof-uniprof', 'profiling.example.com', 'api'],
        ['prof-uniprof-otlp-http', 'otlp-http.profiling.example.com', 'http'],
        ['prof-uniprof-grpc', 'otlp.profiling.example.com', 'grpc'],
      ],
    );
    // Every collector replica serves the UI/API and accepts the same read token and users.
    assert.deepEqual(secretRef(collectorContainer, 'UNIPROF_API_AUTH_TOKENS'), {
      name: 'prof-uniprof-tokens',
      key: 'read-token',
    });
    assert.ok(collectorContainer.ports.some((p) => p.name === 'api' && p.containerPort === 4320));
    assert.equal(envOf(symbolizerContainer, 'UNIPROF_API_AUTH_TOKENS'), undefined);
    assert.ok(!symbolizerContainer.ports.some((p) => p.name === 'api'));

    for (const deployment of [collector, symbolizer]) {
      const pod = deployment.spec.template.spec;
      const ca = pod.volumes.find((v) => v.name === 'elasticsearch-ca');
      assert.deepEqual(ca?.secret, {
        secretName: 'profiling-es-http-certs-public',
        items: [{ key: 'ca.crt', path: 'ca.crt' }],
      });
      const apiKey = secretRef(pod.containers[0], 'UNIPROF_OUTPUT_ELASTICSEARCH_API_KEY');
      assert.deepEqual(apiKey, { name: 'profiling-es-credentials', key: 'api-key', optional: true });
    }
  });

  it('Elasticsearch mode with every secret managed outside the chart renders no Secret', () => {
    const manifests = manifestsOf('elasticsearch-existing-secrets-values.yaml');
    assert.deepEqual(ofKind(manifests, 'Secret'), []);
    assert.deepEqual(ofKind(manifests, 'ServiceAccount'), []);
    const collector = one<Deployment>(manifests, 'Deployment', '-collector');
    assert.equal(collector.spec.replicas, 4);
    const pod = collector.spec.template.spec;
    assert.equal(pod.serviceAccountName, 'profiling');
    assert.match(pod.containers[0].image, /^ghcr\.io\/uniprof\/uniprof@sha256:[0-9a-f]{64}$/);
    assert.deepEqual(secretRef(pod.containers[0], 'UNIPROF_COLLECTOR_AUTH_SECRET_TOKEN'), {
      name: 'uniprof-tokens-from-vault',
      key: 'agents',
    });
    assert.deepEqual(secretRef(pod.containers[0], 'UNIPROF_OUTPUT_ELASTICSEARCH_USERNAME').key, 'user');
    assert.deepEqual(secretRef(pod.containers[0], 'UNIPROF_OUTPUT_ELASTICSEARCH_PASSWORD').key, 'pass');
    assert.deepEqual(pod.volumes.find((v) => v.name === 'elasticsearch-ca')?.configMap, {
      name: 'corporate-ca',
      items: [{ key: 'root.pem', path: 'ca.crt' }],
    });
    const symbolizer = one<Deployment>(manifests, 'Deployment', '-symbolizer').spec.template.spec
      .containers[0];
    assert.deepEqual(secretRef(symbolizer, 'UNIPROF_SYMBOLIZER_UPLOAD_TOKEN'), {
      name: 'uniprof-tokens-from-vault',
      key: 'uploads',
    });
    assert.ok(symbolizer.volumeMounts.some((m) => m.mountPath === '/debug'));
  });

  it('Elasticsearch mode keeps an API key given as a value in a Secret of its own', () => {
    const manifests = manifestsOf('elasticsearch-inline-credentials-values.yaml');
    const secret = one<Secret>(manifests, 'Secret', '-elasticsearch');
    const key = 'VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw==';
    assert.equal(Buffer.from(secret.data['api-key'], 'base64').toString(), key);
    const container = one<Deployment>(manifests, 'Deployment', '-collector').spec.template.spec.containers[0];
    assert.deepEqual(secretRef(container, 'UNIPROF_OUTPUT_ELASTICSEARCH_API_KEY'), {
      name: secret.metadata.name,
      key: 'api-key',
      optional: false,
    });
    assert.equal(envOf(container, 'UNIPROF_OUTPUT_ELASTICSEARCH_USERNAME'), undefined);
  });

  it('prints install notes that name the Secret and keys the pods read, and where to connect', () => {
    for (const set of valueSets()) {
      const outcome = helmNotes(helm, { valuesFile: set, kubeVersion: NEWEST });
      assert.equal(outcome.status, 0, `${set}: ${outcome.stderr}`);
      const notes = outcome.notes ?? '';
      const manifests = manifestsOf(set);
      const collector = one<Deployment>(manifests, 'Deployment', '-collector').spec.template.spec
        .containers[0];
      const service = one<Service>(manifests, 'Service', 'uniprof');
      assert.ok(notes.includes(`${service.metadata.name}.profiling.svc:4317`), `${set}:\n${notes}`);
      const agentToken = envOf(collector, 'UNIPROF_COLLECTOR_AUTH_SECRET_TOKEN')?.valueFrom?.secretKeyRef;
      if (agentToken) {
        assert.ok(
          notes.includes(`get secret ${agentToken.name} -o jsonpath='{.data.${agentToken.key}}'`),
          set,
        );
      } else assert.match(notes, /without a token/, set);
      const readToken = envOf(collector, 'UNIPROF_API_AUTH_TOKENS')?.valueFrom?.secretKeyRef;
      if (readToken) {
        assert.ok(
          notes.includes(`get secret ${readToken.name} -o jsonpath='{.data.${readToken.key}}'`),
          `${set}:\n${notes}`,
        );
        assert.match(notes, /Authorization: Bearer \$READ_TOKEN/, set);
      } else assert.match(notes, /Reader authentication is OFF/, set);
      assert.match(notes, /port-forward \S+ 4320\n/, set);
      assert.match(notes, /open http:\/\/127\.0\.0\.1:4320\//, set);
      assert.match(notes, set.startsWith('embedded-') ? /Mode: embedded/ : /Mode: elasticsearch/, set);
    }
  });

  it('rolls the pods when configuration or secret values change, not on a re-render of the same values', () => {
    const annotations = (set: string[]) => {
      const outcome = helmTemplate(helm, { set, kubeVersion: NEWEST });
      assert.equal(outcome.status, 0, outcome.stderr);
      const deployment = one<Deployment>(parseManifests(outcome.stdout), 'Deployment');
      return deployment.spec.template.metadata.annotations;
    };
    const base = annotations([]);
    assert.deepEqual(annotations([]), base, 'generated tokens do not roll the pods');
    assert.notEqual(annotations(['logLevel=debug'])['checksum/config'], base['checksum/config']);
    for (const changed of [
      'auth.agentToken=new',
      'readerAuth.readToken=a-new-read-token-0123',
      'readerAuth.enabled=false',
    ]) {
      assert.notEqual(
        annotations([changed])['checksum/secret-values'],
        base['checksum/secret-values'],
        changed,
      );
    }
  });

  it('refuses contradictory or misspelt values with a message saying what to change', () => {
    const cases: [string[], RegExp][] = [
      [['collector.autoscaling.enabled=true'], /needs mode: elasticsearch/],
      [['mode=elasticsearch'], /needs elasticsearch.hosts/],
      [['collector.replica=3'], /additional properties 'replica' not allowed/],
      [['mode=duckdb'], /mode/],
      [['ports.grpc=70000'], /ports\/grpc/],
      [['readerAuth.readToken=short'], /readerAuth\/readToken/],
      [['readerAuth.users.alice=plaintext'], /readerAuth\/users\/alice/],
      [
        ['readerAuth.existingSecret=mine', 'readerAuth.readToken=a-read-token-of-20-chars'],
        /with readerAuth.existingSecret put them in that Secret/,
      ],
      [['readerAuth.readTokenKey=agent-token'], /give it a key of its own/],
      [
        ['auth.agentToken=one-token-for-everything', 'readerAuth.readToken=one-token-for-everything'],
        /give readers a token of their own/,
      ],
      [
        [
          'mode=elasticsearch',
          'elasticsearch.hosts={https://es:9200}',
          'elasticsearch.tls.caSecret.name=a',
          'elasticsearch.tls.caConfigMap.name=b',
        ],
        /one of elasticsearch.tls.caSecret.name and elasticsearch.tls.caConfigMap.name/,
      ],
    ];
    for (const [set, message] of cases) {
      const outcome = helmTemplate(helm, { set, kubeVersion: NEWEST });
      assert.notEqual(outcome.status, 0, `${set} was accepted`);
      assert.match(outcome.stderr, message, `${set}`);
    }
  });
});

describe('the schema validation rejects what a cluster would reject', { timeout: 300_000 }, () => {
  /** Each case: a manifest and the releases that must accept it (all others must reject it). */
  const cases = new Map<string, { text: string; validOn: string[] }>();
  /** case → version → accepted; one kubeconform run per release for all cases. */
  const outcomes = new Map<string, Map<string, boolean>>();

  before(() => {
    const embedded = renders.get('embedded-default-values.yaml')!.get(NEWEST)!;
    assert.ok(embedded.includes('\n  strategy:\n') && embedded.includes('readOnlyRootFilesystem: true'));
    const scaled = manifestsOf('elasticsearch-scaled-values.yaml');
    const pdb = one<Pdb>(scaled, 'PodDisruptionBudget', '-collector');
    const hpa = one<Hpa>(scaled, 'HorizontalPodAutoscaler');
    const deployment = one<Deployment>(manifestsOf('embedded-default-values.yaml'), 'Deployment');
    const container = deployment.spec.template.spec.containers[0];
    container.securityContext = { ...container.securityContext, appArmorProfile: { type: 'RuntimeDefault' } };
    const json = (m: Manifest) => JSON.stringify(m);

    cases.set('embedded-as-rendered', { text: embedded, validOn: KUBERNETES_VERSIONS });
    cases.set('misspelt-strategy', {
      text: embedded.replace('\n  strategy:\n', '\n  stratgy:\n'),
      validOn: [],
    });
    cases.set('misspelt-read-only-root', {
      text: embedded.replace('readOnlyRootFilesystem: true', 'readOnlyRootFileSystem: true'),
      validOn: [],
    });
    cases.set('pdb-policy-v1', { text: json(pdb), validOn: KUBERNETES_VERSIONS });
    cases.set('pdb-policy-v1beta1', { text: json({ ...pdb, apiVersion: 'policy/v1beta1' }), validOn: [] });
    cases.set('hpa-autoscaling-v2', { text: json(hpa), validOn: KUBERNETES_VERSIONS });
    cases.set('hpa-autoscaling-v2beta2', {
      text: json({ ...hpa, apiVersion: 'autoscaling/v2beta2' }),
      validOn: ['1.25.0'],
    });
    cases.set('apparmor-profile-field', { text: json(deployment), validOn: ['1.30.0', '1.31.0'] });

    for (const name of cases.keys()) outcomes.set(name, new Map());
    const files = Object.fromEntries([...cases].map(([name, { text }]) => [name, text]));
    for (const version of KUBERNETES_VERSIONS) {
      const result = kubeconform(kubeconformBinary, schemas, version, files);
      for (const [name, { text }] of cases) {
        const resources = result.resources.filter((r) => r.filename === `${name}.yaml`);
        assert.equal(resources.length, parseManifests(text).length, `${name}: every object looked at`);
        outcomes.get(name)!.set(
          version,
          resources.every((r) => r.status === 'statusValid'),
        );
      }
    }
  });

  function check(...names: string[]): void {
    for (const name of names) {
      const expected = new Map(KUBERNETES_VERSIONS.map((v) => [v, cases.get(name)!.validOn.includes(v)]));
      assert.deepEqual(outcomes.get(name), expected, name);
    }
  }

  it('a misspelt field', () => {
    check('embedded-as-rendered', 'misspelt-strategy', 'misspelt-read-only-root');
  });

  it('an API removed in 1.25 (policy/v1beta1 PodDisruptionBudget) or 1.26 (autoscaling/v2beta2 HPA)', () => {
    check('pdb-policy-v1', 'pdb-policy-v1beta1', 'hpa-autoscaling-v2', 'hpa-autoscaling-v2beta2');
  });

  it('a field newer than the release (securityContext.appArmorProfile, 1.30)', () => {
    check('apparmor-profile-field');
  });
});
