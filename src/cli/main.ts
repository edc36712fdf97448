import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { ConfigError } from '../config/config.ts';
import { addConfigOptions, configFromOptions } from './options.ts';
import { symbtoolCommand } from './symbtool.ts';

/** package.json is two levels up from both src/cli/main.ts and its compiled dist/cli/main.js. */
const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

const program = new Command('uniprof')
  .description('Self-hostable continuous profiling backend for the OpenTelemetry eBPF profiler')
  .version(version)
  .showHelpAfterError();

addConfigOptions(
  program
    .command('serve')
    .description('run every service in one process (collector, query API, web UI) on the configured store'),
).action(async (options: Record<string, unknown>) => {
  const { runServer } = await import('./server.ts');
  await runServer(configFromOptions(options), { title: 'uniprof serve', symbolizer: true });
});

addConfigOptions(
  program
    .command('collector')
    .description('run the collector: gRPC and OTLP/HTTP receivers, health, metrics, query API and UI'),
).action(async (options: Record<string, unknown>) => {
  const { runServer } = await import('./server.ts');
  await runServer(configFromOptions(options), { title: 'uniprof collector' });
});

addConfigOptions(
  program
    .command('symbolizer')
    .description(
      'run the symbolizer service alone: names native frames from debug files; health, metrics and symbol upload on symbolizer.http (default 127.0.0.1:4319)',
    )
    .addHelpText(
      'after',
      `
'uniprof serve' already runs the symbolizer in-process. Run 'uniprof symbolizer' on its own for an
Elasticsearch store (as many as you like, each with its own --data-dir), or on an embedded store that no
'serve' or 'collector' has open: a DuckDB file can be open in one process only.`,
    ),
).action(async (options: Record<string, unknown>) => {
  const { runSymbolizer, SymbolizerStartError } = await import('./symbolizer-command.ts');
  try {
    await runSymbolizer(configFromOptions(options));
  } catch (error) {
    if (!(error instanceof SymbolizerStartError)) throw error;
    console.error(`uniprof symbolizer: ${error.message}`);
    process.exitCode = 1;
  }
});

function positiveNumber(text: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value <= 0) throw new InvalidArgumentError('must be a positive number');
  return value;
}

addConfigOptions(
  program
    .command('healthcheck')
    .description(
      "ask the running server on this machine for /health (the collector's, or with --symbolizer the symbolizer's); exit status 0 when healthy: a container health check",
    ),
)
  .option('--symbolizer', "check the symbolizer's HTTP server (symbolizer.http) instead of the collector's")
  .option('--timeout <seconds>', 'how long to wait for the answer', positiveNumber, 5)
  .action(async (options: Record<string, unknown>) => {
    const { runHealthcheck } = await import('./healthcheck-command.ts');
    const target = options.symbolizer === true ? 'symbolizer' : 'collector';
    await runHealthcheck(configFromOptions(options), target, (options.timeout as number) * 1000);
  });

program
  .command('loadgen')
  .description('send realistic OTLP profiles to a collector at a chosen rate')
  .option('--target <host:port>', 'collector gRPC address', '127.0.0.1:4317')
  .option('--token <token>', 'secret token to present (env UNIPROF_COLLECTOR_AUTH_SECRET_TOKEN)')
  .option('--rate <samples/s>', 'samples per second to send', positiveNumber, 10_000)
  .option('--duration <seconds>', 'how long to send', positiveNumber, 10)
  .option('--hosts <n>', 'distinct hosts to simulate', positiveNumber, 20)
  .option('--seed <n>', 'random seed, for repeatable load', positiveNumber, 1)
  .option('--tls', 'connect with TLS')
  .option('--ca <file>', 'PEM CA certificate to trust with --tls')
  .action(async (options: Record<string, unknown>) => {
    const { runLoadgenCommand } = await import('./loadgen-command.ts');
    await runLoadgenCommand(options);
  });

program
  .command('hash-password')
  .description(
    'read a password on standard input and print its hash, for api.auth.users in the configuration',
  )
  .addHelpText('after', `\nExample:\n  printf '%s' "$PASSWORD" | uniprof hash-password`)
  .action(async () => {
    const { runHashPassword } = await import('./hash-password.ts');
    await runHashPassword();
  });

program.addCommand(symbtoolCommand());

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof ConfigError) {
    console.error(`uniprof: ${error.message}`);
    process.exitCode = 2;
  } else {
    console.error(`uniprof: ${(error as Error).stack ?? String(error)}`);
    process.exitCode = 1;
  }
}
