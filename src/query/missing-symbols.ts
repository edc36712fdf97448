import { FRAME_TYPE_ERROR_BIT, FrameType } from '../model/index.ts';
import type { FrameGroup } from './frames.ts';

/**
 * Where symbols for native executables are uploaded, as this server is configured. The token itself is
 * never part of an API response: `uploadToken` is shell text that names where to find it (for example
 * `$(cat /var/lib/uniprof/symbol-upload-token)`), so a command shown in the UI can be pasted as it is.
 */
export interface SymbolUploadTarget {
  symbolizerUrl: string;
  uploadToken: string;
}

/** Placeholders for a server that was not told where its symbolizer listens (an embedded API, tests). */
export const UNKNOWN_UPLOAD_TARGET: SymbolUploadTarget = {
  symbolizerUrl: '<symbolizer URL>',
  uploadToken: '<upload token>',
};

/**
 * A native executable some frames of a response have no symbols for, and how to add them: Kibana's
 * "symbols not available" with its `symbtool` command, for Uniprof's own symbolizer.
 */
export interface MissingSymbols {
  fileId: string;
  /** File name as the agent reported it; '' when the store has no record of the executable. */
  executable: string;
  /** GNU build ID (hex); '' when the agent reported none. */
  buildId: string;
  /** The command that uploads the executable's symbols (to be run where the executable, or its debug file, is). */
  command: string;
}

/** Quotes a shell word only when it needs it. */
function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** `uniprof symbtool push-symbols -u <url> -t <token> -e <path>`, for one executable. */
export function pushSymbolsCommand(target: SymbolUploadTarget, executable: string): string {
  // The path on the host the executable came from is unknown here: the file name says which file to pass.
  const path = executable ? shellWord(`/path/to/${executable}`) : '<path to the executable>';
  const url = target.symbolizerUrl.startsWith('<') ? target.symbolizerUrl : shellWord(target.symbolizerUrl);
  const token = target.uploadToken.startsWith('<') ? target.uploadToken : `"${target.uploadToken}"`;
  return `uniprof symbtool push-symbols -u ${url} -t ${token} -e ${path}`;
}

/**
 * Whether a group is a native frame without symbols: the only kind the symbolizer can name, and so the only
 * kind that gets the upload hint. Kernel frames are named by the agent, interpreted ones by their runtime.
 */
export function lacksNativeSymbols(group: FrameGroup): boolean {
  return !group.symbolized && (group.frameType & ~FRAME_TYPE_ERROR_BIT) === FrameType.Native;
}

export function missingSymbolsOf(group: FrameGroup, target: SymbolUploadTarget): MissingSymbols {
  return {
    fileId: group.fileId,
    executable: group.executable,
    buildId: group.buildId,
    command: pushSymbolsCommand(target, group.executable),
  };
}

/** One entry per executable, however many of its frames a response shows. */
export class MissingSymbolsTable {
  readonly entries: MissingSymbols[] = [];
  private readonly byFile = new Map<string, number>();

  constructor(private readonly target: SymbolUploadTarget) {}

  /** The entry's index for a group lacking native symbols, else -1. */
  indexOf(group: FrameGroup): number {
    if (!lacksNativeSymbols(group)) return -1;
    let index = this.byFile.get(group.fileId);
    if (index === undefined) {
      index = this.entries.length;
      this.entries.push(missingSymbolsOf(group, this.target));
      this.byFile.set(group.fileId, index);
    }
    return index;
  }

  entryOf(group: FrameGroup): MissingSymbols | undefined {
    const index = this.indexOf(group);
    return index < 0 ? undefined : this.entries[index];
  }
}
