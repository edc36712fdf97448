/**
 * `uniprof symbtool`: tools for private symbols, in the spirit of Elastic's symbtool.
 *
 * - `push-symbols -u URL -t TOKEN -e EXECUTABLE [-d DEBUG_FILE]`: extract the symbol ranges of a (possibly
 *   stripped) executable from its debug info on this machine and stream them to the symbolizer service.
 * - `file-id EXECUTABLE`: the file ID the agent reports for it (and its GNU build ID).
 *
 * The work is in symbtool-actions.ts, loaded only when a symbtool command runs.
 */
import { Command } from 'commander';
import type { PushCommandOptions } from './symbtool-actions.ts';

export const UPLOAD_TOKEN_ENV = 'UNIPROF_SYMBOL_UPLOAD_TOKEN';

/** A failure to report as one line, without a stack: the user's input or the server said no. */
export class SymbtoolError extends Error {
  override readonly name = 'SymbtoolError';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

const collect = (value: string, previous: string[] | undefined) => [...(previous ?? []), value];

/** Runs a subcommand, turning SymbtoolErrors into a one-line message and an exit code. */
function guarded<A extends unknown[]>(name: string, action: (...args: A) => Promise<void> | void) {
  return async (...args: A) => {
    try {
      await action(...args);
    } catch (error) {
      if (!(error instanceof SymbtoolError)) throw error;
      console.error(`uniprof symbtool ${name}: ${error.message}`);
      process.exitCode = error.exitCode;
    }
  };
}

export function symbtoolCommand(): Command {
  const symbtool = new Command('symbtool').description(
    'private symbols: upload the debug symbols of your own (stripped) executables, show file IDs',
  );
  symbtool
    .command('push-symbols')
    .description(
      'extract the symbols of an executable from its debug info and stream them to the symbolizer service',
    )
    .requiredOption('-u, --url <url>', 'symbolizer service URL, e.g. http://127.0.0.1:4319')
    .option('-t, --token <token>', `symbol upload token (env ${UPLOAD_TOKEN_ENV})`)
    .requiredOption(
      '-e, --executable <file>',
      'the executable or shared library as deployed (may be stripped)',
    )
    .option(
      '-d, --debug-file <file>',
      "file with its DWARF (default: the executable's own, else found by build ID or .gnu_debuglink)",
    )
    .option(
      '--debug-dir <dir>',
      `where separate debug files are looked up (repeatable; default /usr/lib/debug)`,
      collect,
    )
    .option('-f, --force', 'upload even if the server already has symbols for this file')
    .option(
      '--no-return-pads',
      "send ranges only: no return pads (saves the client's memory for the ranges, which pads are made from)",
    )
    .action(
      guarded('push-symbols', async (options: PushCommandOptions) => {
        const { runPushSymbols } = await import('./symbtool-actions.ts');
        await runPushSymbols(options);
      }),
    );
  symbtool
    .command('file-id')
    .description('print the file ID the profiling agent reports for an executable, and its GNU build ID')
    .argument('<executable>')
    .option('--json', 'print JSON')
    .action(
      guarded('file-id', async (path: string, options: { json?: boolean }) => {
        const { runFileId } = await import('./symbtool-actions.ts');
        runFileId(path, options);
      }),
    );
  return symbtool;
}
