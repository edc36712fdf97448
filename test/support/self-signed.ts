/** A self-signed certificate for TLS tests, made with openssl (Debian package "openssl", in .ci/apt-packages.txt). */
import { execFileSync } from 'node:child_process';

/** Writes a certificate for `localhost` and 127.0.0.1 (valid one day) and its key to the given paths. */
export function makeSelfSignedCertificate(cert: string, key: string): void {
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  args.push('-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost');
  args.push('-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1');
  try {
    execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    throw new Error(
      'TLS tests make their certificate with openssl (Debian package "openssl", listed in ' +
        `.ci/apt-packages.txt): ${(error as Error).message}`,
      { cause: error },
    );
  }
}
