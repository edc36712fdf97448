import { X509Certificate } from 'node:crypto';
import { readFileSync, unwatchFile, watchFile, type Stats } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { CollectorConfigError, type TlsFiles } from './options.ts';

/** A certificate chain and the private key that matches it, as PEM. */
export interface CertificatePair {
  cert: Buffer;
  key: Buffer;
}

/**
 * How often the files are checked. Polling `stat` rather than inotify because certificate tools replace files by
 * rename and Kubernetes swaps a Secret's files by re-pointing a symlink, which file watches lose track of.
 */
const DEFAULT_POLL_MS = 1_000;

/**
 * Keeps a listener's certificate current: loads the pair at start (a bad pair stops start-up with
 * CollectorConfigError) and, whenever either file changes, loads it again and hands it to the subscribers —
 * new TLS connections get the new certificate; open ones keep theirs. A changed pair that does not load
 * (half-written, key not matching the certificate) is logged and the last good pair stays in use, so a renewal
 * that writes the certificate before the key recovers when the key lands.
 */
export class CertificateWatcher {
  private pair: CertificatePair;
  private readonly subscribers: ((pair: CertificatePair) => void)[] = [];
  private readonly onFileChange = (current: Stats, previous: Stats) => {
    if (
      current.mtimeMs !== previous.mtimeMs ||
      current.ino !== previous.ino ||
      current.size !== previous.size
    )
      this.reload();
  };

  constructor(
    private readonly files: TlsFiles,
    /** The configuration key, for messages (e.g. `api.http.tls`). */
    private readonly setting: string,
    private readonly log: Logger,
    pollMs = DEFAULT_POLL_MS,
  ) {
    try {
      this.pair = loadPair(files);
    } catch (error) {
      throw new CollectorConfigError(`${setting}: ${(error as Error).message}`);
    }
    for (const file of [files.cert, files.key])
      watchFile(file, { interval: pollMs, persistent: false }, this.onFileChange);
    log.info({ setting, ...describe(this.pair.cert) }, 'TLS certificate loaded; watching its files');
  }

  get current(): CertificatePair {
    return this.pair;
  }

  subscribe(subscriber: (pair: CertificatePair) => void): void {
    this.subscribers.push(subscriber);
  }

  close(): void {
    for (const file of [this.files.cert, this.files.key]) unwatchFile(file, this.onFileChange);
  }

  private reload(): void {
    let next: CertificatePair;
    try {
      next = loadPair(this.files);
    } catch (error) {
      this.log.warn(
        { setting: this.setting, err: error },
        'TLS certificate files changed but do not load; still serving the previous certificate',
      );
      return;
    }
    if (next.cert.equals(this.pair.cert) && next.key.equals(this.pair.key)) return;
    this.pair = next;
    for (const subscriber of this.subscribers) subscriber(next);
    this.log.info({ setting: this.setting, ...describe(next.cert) }, 'TLS certificate reloaded');
  }
}

function loadPair(files: TlsFiles): CertificatePair {
  let pair: CertificatePair;
  try {
    pair = { cert: readFileSync(files.cert), key: readFileSync(files.key) };
  } catch (error) {
    throw new Error(`cannot read the TLS certificate or key: ${(error as Error).message}`, { cause: error });
  }
  try {
    // Builds what a handshake would use, so a malformed file or a key that does not match fails here.
    createSecureContext(pair);
  } catch (error) {
    throw new Error(
      `the TLS certificate ${files.cert} and key ${files.key} do not make a usable pair: ${(error as Error).message}`,
      { cause: error },
    );
  }
  return pair;
}

function describe(cert: Buffer): { subject?: string; validTo?: string } {
  try {
    const parsed = new X509Certificate(cert);
    return { subject: parsed.subject.replaceAll('\n', ', '), validTo: parsed.validTo };
  } catch {
    return {};
  }
}
