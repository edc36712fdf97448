import { Command, Option } from 'commander';
import { loadConfig, type Config } from '../config/config.ts';

/** Flags shared by every long-running command; each is a shorthand for one configuration key. */
const SHORTHANDS: ReadonlyArray<{ flag: string; key: string; description: string }> = [
  {
    flag: '--data-dir <dir>',
    key: 'dataDir',
    description: 'where the embedded store and the secret token live',
  },
  { flag: '--grpc-host <host>', key: 'collector.grpc.host', description: 'address the gRPC receiver binds' },
  { flag: '--grpc-port <port>', key: 'collector.grpc.port', description: 'gRPC (OTLP) port agents send to' },
  {
    flag: '--http-host <host>',
    key: 'collector.http.host',
    description: 'address the OTLP/HTTP receiver binds',
  },
  {
    flag: '--http-port <port>',
    key: 'collector.http.port',
    description: 'OTLP/HTTP port agents send to (also health, metrics)',
  },
  { flag: '--api-host <host>', key: 'api.http.host', description: 'address the web UI and query API bind' },
  {
    flag: '--api-port <port>',
    key: 'api.http.port',
    description: 'web UI and query API port (also health, metrics)',
  },
  {
    flag: '--secret-token <token>',
    key: 'collector.auth.secretToken',
    description: 'token agents must present',
  },
  { flag: '--output <type>', key: 'output.type', description: 'store: embedded or elasticsearch' },
  {
    flag: '--record-dir <dir>',
    key: 'collector.record.dir',
    description: 'keep a copy of every acknowledged export request there (at most collector.record.maxBytes)',
  },
  { flag: '--log-level <level>', key: 'log.level', description: 'trace, debug, info, warn, error' },
];

export function addConfigOptions(command: Command): Command {
  command.option('-c, --config <file>', 'YAML configuration file (env UNIPROF_CONFIG)');
  for (const s of SHORTHANDS) command.option(s.flag, `${s.description} (${s.key})`);
  command.addOption(
    new Option(
      '--set <key=value...>',
      'set any configuration key, e.g. --set output.elasticsearch.hosts=https://es:9200',
    ),
  );
  command.option('--insecure-disable-auth', 'accept agents without a secret token (collector.auth.disabled)');
  command.option(
    '--insecure-disable-reader-auth',
    'serve the UI and query API to anyone, without credentials (api.auth.disabled)',
  );
  return command;
}

function attributeName(flag: string): string {
  const long = flag.split(' ')[0].replace(/^--/, '');
  return long.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Flags win over environment variables, which win over the file. */
export function configFromOptions(
  options: Record<string, unknown>,
  env: NodeJS.ProcessEnv = process.env,
): Config {
  const overrides: string[] = [];
  for (const s of SHORTHANDS) {
    const value = options[attributeName(s.flag)];
    if (value !== undefined) overrides.push(`${s.key}=${String(value)}`);
  }
  if (options.insecureDisableAuth === true) overrides.push('collector.auth.disabled=true');
  if (options.insecureDisableReaderAuth === true) overrides.push('api.auth.disabled=true');
  overrides.push(...((options.set as string[] | undefined) ?? []));
  const file = (options.config as string | undefined) ?? env.UNIPROF_CONFIG;
  return loadConfig({ file, env, overrides });
}
