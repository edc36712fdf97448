import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FrameType } from '../../src/model/index.ts';
import { decodeExportRequest, encodeExportRequest } from '../../src/protocol/index.ts';
import { translateRequest } from '../../src/collector/translate.ts';
import { Workload } from '../../src/loadgen/index.ts';

const END = 1_790_000_000_000_000_000n;

describe('the synthetic fleet', () => {
  it('is the same for the same seed and differs for another', () => {
    const a = encodeExportRequest(
      new Workload({ seed: 5, hosts: 3, stacksPerRuntime: 200 }).next(END, 200).request,
    );
    const b = encodeExportRequest(
      new Workload({ seed: 5, hosts: 3, stacksPerRuntime: 200 }).next(END, 200).request,
    );
    const c = encodeExportRequest(
      new Workload({ seed: 6, hosts: 3, stacksPerRuntime: 200 }).next(END, 200).request,
    );
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });

  it('sends what the agent sends: its attribute names, sample and period types, one timestamp per sample', () => {
    const generated = new Workload({ seed: 2, hosts: 4, stacksPerRuntime: 300 }).next(END, 500);
    const request = decodeExportRequest(encodeExportRequest(generated.request));
    const dictionary = request.dictionary!;
    const strings = dictionary.stringTable!;
    const keys = new Set(dictionary.attributeTable!.slice(1).map((a) => strings[a.keyStrindex!]));
    for (const key of [
      'thread.name',
      'thread.id',
      'cpu.logical_number',
      'profile.frame.type',
      'process.executable.build_id.htlhash',
      'process.executable.build_id.gnu',
    ]) {
      assert.ok(keys.has(key), `attribute ${key} missing`);
    }
    const resource = request.resourceProfiles![0].resource!.attributes!.map((a) => a.key);
    for (const key of ['process.pid', 'process.executable.name', 'process.executable.path', 'host.id']) {
      assert.ok(resource.includes(key), `resource attribute ${key} missing`);
    }
    let timestamps = 0;
    for (const rp of request.resourceProfiles!) {
      const profile = rp.scopeProfiles![0].profiles![0];
      assert.equal(strings[profile.sampleType!.typeStrindex!], 'samples');
      assert.equal(strings[profile.periodType!.typeStrindex!], 'cpu');
      for (const sample of profile.samples!) timestamps += sample.timestampsUnixNano!.length;
    }
    assert.equal(timestamps, 500);
    assert.equal(generated.samples, 500);
  });

  it('mixes kernel, native and interpreted frames in deep stacks, and translates cleanly', () => {
    const workload = new Workload({ seed: 9, hosts: 10, stacksPerRuntime: 500 });
    const types = new Set<number>();
    let deepest = 0;
    let samples = 0;
    for (let i = 0; i < 10; i++) {
      const result = translateRequest(workload.next(END + BigInt(i) * 5_000_000_000n, 400).request, {
        now: 1_790_000_100,
      });
      samples += result.samples;
      for (const trace of result.batch.stackTraces) {
        for (const type of trace.frameTypes) types.add(type);
        deepest = Math.max(deepest, trace.frameIds.length);
      }
      assert.ok(result.batch.hosts.length === 1);
    }
    assert.equal(samples, 4000);
    for (const type of [
      FrameType.Kernel,
      FrameType.Native,
      FrameType.Python,
      FrameType.HotSpot,
      FrameType.V8,
    ]) {
      assert.ok(types.has(type), `no frame of type ${type}`);
    }
    assert.ok(deepest >= 40, `deepest stack has only ${deepest} frames`);
  });

  it('skews stack popularity: the hottest stacks take far more than a uniform share', () => {
    const workload = new Workload({ seed: 4, hosts: 1, processesPerHost: 1, stacksPerRuntime: 1000 });
    const counts = new Map<string, number>();
    const result = translateRequest(workload.next(END, 5000).request, { now: 1_790_000_100 });
    for (const event of result.batch.events) {
      counts.set(event.stackTraceId, (counts.get(event.stackTraceId) ?? 0) + event.count);
    }
    const top = Math.max(...counts.values());
    // Uniform over 1000 stacks would give about 5 samples each.
    assert.ok(top > 200, `hottest stack has only ${top} of 5000 samples`);
    assert.ok(counts.size > 100, `only ${counts.size} distinct stacks`);
  });

  it('covers many hosts, round robin', () => {
    const workload = new Workload({ seed: 1, hosts: 7, stacksPerRuntime: 50 });
    const hosts = new Set<string>();
    for (let i = 0; i < 14; i++) hosts.add(workload.next(END, 10).hostId);
    assert.equal(hosts.size, 7);
  });
});

describe('replaying a request with current times', () => {
  it('moves the profile time and every sample timestamp, and nothing else', async () => {
    const { shiftTimestamps } = await import('../../src/loadgen/retime.ts');
    const { toUint64 } = await import('../../src/protocol/index.ts');
    const request = new Workload({ seed: 8, hosts: 2, stacksPerRuntime: 200 }).next(END, 300).request;
    const original = decodeExportRequest(encodeExportRequest(request));
    const bytes = encodeExportRequest(request);
    const delta = 3_600_000_000_123n;
    shiftTimestamps(bytes, delta);
    const shifted = decodeExportRequest(bytes);
    assert.deepEqual(shifted.dictionary!.stringTable, original.dictionary!.stringTable);
    let checked = 0;
    shifted.resourceProfiles!.forEach((rp, r) => {
      const before = original.resourceProfiles![r].scopeProfiles![0].profiles![0];
      const after = rp.scopeProfiles![0].profiles![0];
      assert.equal(toUint64(after.timeUnixNano), toUint64(before.timeUnixNano) + delta);
      after.samples!.forEach((sample, s) => {
        assert.equal(sample.stackIndex, before.samples![s].stackIndex);
        sample.timestampsUnixNano!.forEach((t, i) => {
          assert.equal(toUint64(t), toUint64(before.samples![s].timestampsUnixNano![i]) + delta);
          checked++;
        });
      });
    });
    assert.equal(checked, 300);
  });
});
