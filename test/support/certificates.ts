import { execFileSync } from 'node:child_process';
import { renameSync } from 'node:fs';

/**
 * Writes a fresh self-signed EC certificate for `commonName` (valid for localhost and 127.0.0.1) and its key. Both
 * files are written beside their targets and renamed into place, as certificate tools replace them.
 */
export function writeSelfSignedCertificate(cert: string, key: string, commonName = 'localhost'): void {
  const [certPart, keyPart] = [`${cert}.partial`, `${key}.partial`];
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  args.push('-keyout', keyPart, '-out', certPart, '-days', '1', '-subj', `/CN=${commonName}`);
  args.push('-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1');
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    throw new Error(
      'the TLS tests make their certificates with openssl (Debian package "openssl", listed in ' +
        `.ci/apt-packages.txt): ${(error as Error).message}`,
      { cause: error },
    );
  }
  renameSync(keyPart, key);
  renameSync(certPart, cert);
}
