import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostIdentity, kernelReleaseFromDescription } from '../../src/collector/host-identity.ts';

const attributes = (entries: Record<string, string>) => new Map(Object.entries(entries));

describe('host identity', () => {
  it('takes what resource detection sets: host.id, host.name, the first of host.ip, the kernel', () => {
    const host = hostIdentity(
      attributes({
        'host.id': '3d1219c7c4c5404aaa1f6d2a48adfda4',
        'host.name': 'web-7',
        // a list attribute, as anyValueText renders it
        'host.ip': '10.0.0.7,fe80::1',
        'os.type': 'linux',
        'os.version': '12',
        'os.description': 'Debian GNU/Linux 12 (bookworm) (Linux web-7 6.1.0-18-amd64 #1 SMP x86_64)',
      }),
      { hostIp: '192.0.2.1' },
    );
    assert.deepEqual(host, {
      hostId: '3d1219c7c4c5404aaa1f6d2a48adfda4',
      hostName: 'web-7',
      hostIp: '10.0.0.7',
      osKernel: '6.1.0-18-amd64',
    });
  });

  it('names a host that sends no host attributes (the standalone agent) by its peer address', () => {
    assert.deepEqual(hostIdentity(new Map(), { hostIp: '127.0.0.2' }), {
      hostId: '127.0.0.2',
      hostName: '127.0.0.2',
      hostIp: '127.0.0.2',
      osKernel: undefined,
    });
    assert.notEqual(
      hostIdentity(new Map(), { hostIp: '127.0.0.2' }).hostName,
      hostIdentity(new Map(), { hostIp: '127.0.0.3' }).hostName,
    );
  });

  it('keeps an ID without a name, naming it by address; falls back to "unknown" with nothing at all', () => {
    assert.deepEqual(hostIdentity(attributes({ 'host.id': 'abc' }), { hostIp: '10.1.2.3' }), {
      hostId: 'abc',
      hostName: '10.1.2.3',
      hostIp: '10.1.2.3',
      osKernel: undefined,
    });
    assert.equal(hostIdentity(attributes({ 'host.name': 'db-1' }), {}).hostId, 'db-1');
    assert.equal(hostIdentity(new Map(), {}).hostId, 'unknown');
    assert.equal(hostIdentity(new Map(), {}).hostName, undefined);
  });

  it('prefers os.kernel, then the release in os.description, then os.version', () => {
    assert.equal(
      hostIdentity(attributes({ 'os.kernel': '6.8.0', 'os.description': 'Linux h 6.1.0 #1 x86_64' }), {})
        .osKernel,
      '6.8.0',
    );
    assert.equal(
      hostIdentity(attributes({ 'os.description': 'Linux h 6.1.0 #1 x86_64' }), {}).osKernel,
      '6.1.0',
    );
    assert.equal(hostIdentity(attributes({ 'os.version': '5.15.0-91' }), {}).osKernel, '5.15.0-91');
  });
});

describe('kernel release from os.description', () => {
  it('reads the uname form, alone or after the distribution name', () => {
    assert.equal(
      kernelReleaseFromDescription('Linux vm 6.18.44-fc-v657 #1 SMP PREEMPT_DYNAMIC x86_64'),
      '6.18.44-fc-v657',
    );
    assert.equal(
      kernelReleaseFromDescription('Ubuntu 24.04 LTS (Linux node-3 6.8.0-45-generic #45-Ubuntu SMP aarch64)'),
      '6.8.0-45-generic',
    );
  });

  it('finds nothing in descriptions of other forms', () => {
    assert.equal(kernelReleaseFromDescription('Debian GNU/Linux 12 (bookworm)'), undefined);
    assert.equal(kernelReleaseFromDescription('macOS 14.2.1 (23C71)'), undefined);
    assert.equal(kernelReleaseFromDescription(undefined), undefined);
  });
});
