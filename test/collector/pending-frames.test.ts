/**
 * The translator's part of symbolization: native frames of new stack traces that the agent did not symbolize
 * go into `batch.pendingFrames`, once per frame ID, with the file and address the symbolizer needs.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ProfileTranslator } from '../../src/collector/translate.ts';
import { Workload, nanosFromMillis } from '../../src/loadgen/index.ts';
import {
  FrameType,
  fileIdFromHex,
  frameId,
  parseFrameId,
  type PendingFrame,
  type ProfileBatch,
} from '../../src/model/index.ts';
import {
  decodeExportRequest,
  toUint64,
  type ExportProfilesServiceRequest,
} from '../../src/protocol/index.ts';
import { FILE_ID_HEX, NATIVE_ADDRESS, agentRequestBytes } from '../protocol/agent-request.ts';

const NOW = 1_790_000_100;
const START_MS = Date.parse('2026-11-25T00:00:00Z');

/**
 * Gives every native location whose address is a multiple of 7 a line naming a function, as an agent that
 * symbolized the frame itself would send it. Chosen by address, so a frame is symbolized in every request or
 * in none.
 */
function symbolizeSomeNativeFrames(request: ExportProfilesServiceRequest): Set<string> {
  const dictionary = request.dictionary!;
  const strings = dictionary.stringTable!;
  const attributes = dictionary.attributeTable!;
  const nativeAttributes = new Set<number>();
  attributes.forEach((attribute, index) => {
    const key = strings[attribute.keyStrindex ?? 0];
    if (key === 'profile.frame.type' && attribute.value?.stringValue === 'native')
      nativeAttributes.add(index);
  });
  strings.push('agent_named_function', 'agent.c');
  const functions = dictionary.functionTable!;
  functions.push({ nameStrindex: strings.length - 2, filenameStrindex: strings.length - 1 });
  const functionIndex = functions.length - 1;
  const symbolizedAddresses = new Set<string>();
  for (const location of dictionary.locationTable!) {
    const native = (location.attributeIndices ?? []).some((a) => nativeAttributes.has(a));
    const address = toUint64(location.address);
    if (!native || address % 7n !== 0n) continue;
    location.lines = [{ functionIndex, line: 12 }];
    symbolizedAddresses.add(address.toString());
  }
  return symbolizedAddresses;
}

function pendingOf(batches: readonly ProfileBatch[]): PendingFrame[] {
  return batches.flatMap((batch) => batch.pendingFrames ?? []);
}

describe('pending frames for the symbolizer', () => {
  it('every native frame of every new stack trace, once across batches; none symbolized, none of other types', () => {
    const workload = new Workload({ seed: 7, hosts: 12, stacksPerRuntime: 300 });
    const translator = new ProfileTranslator();
    const batches: ProfileBatch[] = [];
    let symbolizedByAgent = 0;
    for (let r = 0; r < 60; r++) {
      const { request } = workload.next(nanosFromMillis(START_MS + r * 5000), 400);
      symbolizedByAgent += symbolizeSomeNativeFrames(request).size;
      const translation = translator.translate(request, { now: NOW + r });
      batches.push(translation.batch);
      translation.commit();
    }
    assert.ok(symbolizedByAgent > 0, 'the requests carry native frames the agent symbolized');

    const agentSymbolized = new Set(batches.flatMap((b) => b.stackFrames.map((f) => f.frameId)));
    const typesById = new Map<string, Set<number>>();
    const expected = new Set<string>();
    const expectedLeaves = new Set<string>();
    for (const batch of batches) {
      for (const trace of batch.stackTraces) {
        trace.frameIds.forEach((id, i) => {
          const types = typesById.get(id) ?? new Set<number>();
          types.add(trace.frameTypes[i]);
          typesById.set(id, types);
          if (trace.frameTypes[i] !== FrameType.Native || agentSymbolized.has(id)) return;
          expected.add(id);
          // The model lists a stack leaf first.
          if (i === 0) expectedLeaves.add(id);
        });
      }
    }
    const pending = pendingOf(batches);
    const ids = pending.map((p) => p.frameId);
    const leaves = pending.filter((p) => p.leaf).map((p) => p.frameId);
    const inside = pending.filter((p) => !p.leaf).map((p) => p.frameId);
    assert.equal(new Set(leaves).size, leaves.length, 'no frame is queued twice as a leaf');
    assert.equal(new Set(inside).size, inside.length, 'nor twice inside a stack');
    // Elastic's symbolizer reads the leaves: a frame queued inside a stack is queued again, once, as a leaf.
    assert.deepEqual(new Set(leaves), expectedLeaves);
    const insideSet = new Set(inside);
    const requeued = leaves.filter((id) => insideSet.has(id));
    assert.ok(requeued.length > 0, 'some frames were queued inside a stack before they were a leaf');
    for (const id of requeued)
      assert.ok(ids.indexOf(id) < ids.lastIndexOf(id) && !pending[ids.indexOf(id)].leaf);
    assert.ok(expected.size > 1000, `a fleet's worth of native frames (${expected.size})`);
    assert.deepEqual(new Set(ids), expected);
    const nativeSymbolizedByAgent = [...agentSymbolized].filter((id) =>
      typesById.get(id)?.has(FrameType.Native),
    );
    assert.ok(nativeSymbolizedByAgent.length > 0, 'some native frames were symbolized by the agent');
    for (const id of nativeSymbolizedByAgent) assert.ok(!expected.has(id));
    for (const frame of pending) {
      assert.deepEqual([...typesById.get(frame.frameId)!], [FrameType.Native], 'only native frames');
      const parsed = parseFrameId(frame.frameId);
      assert.equal(frame.fileId, parsed.fileId);
      assert.equal(BigInt(frame.address), parsed.addressOrLine);
    }
  });

  it('a batch whose write failed (no commit) is followed by one that queues its frames again', () => {
    const translator = new ProfileTranslator();
    const request = () =>
      new Workload({ seed: 3, hosts: 2, stacksPerRuntime: 50 }).next(nanosFromMillis(START_MS), 300);
    const failed = translator.translate(request().request, { now: NOW });
    assert.ok(failed.batch.pendingFrames!.length > 0);
    const retried = translator.translate(request().request, { now: NOW + 1 });
    assert.deepEqual(
      new Set(retried.batch.pendingFrames!.map((p) => p.frameId)),
      new Set(failed.batch.pendingFrames!.map((p) => p.frameId)),
    );
    retried.commit();
    const again = translator.translate(request().request, { now: NOW + 2 });
    assert.deepEqual(again.batch.pendingFrames, []);
  });

  it('a stack trace written again (forgotten as stored) does not queue its frames again', () => {
    const translator = new ProfileTranslator({ capacities: { stackTraces: 0 } });
    const first = translator.translate(decodeExportRequest(agentRequestBytes()), { now: NOW });
    first.commit();
    const second = translator.translate(decodeExportRequest(agentRequestBytes()), { now: NOW + 1 });
    assert.equal(second.batch.stackTraces.length, 1, 'the trace is written again');
    assert.deepEqual(second.batch.pendingFrames, []);
  });

  it('the captured agent request queues its one native frame, not the kernel or Python frame', () => {
    const { batch } = new ProfileTranslator().translate(decodeExportRequest(agentRequestBytes()), {
      now: NOW,
    });
    const fileId = fileIdFromHex(FILE_ID_HEX);
    assert.deepEqual(batch.pendingFrames, [
      { frameId: frameId(fileId, NATIVE_ADDRESS), fileId, address: Number(NATIVE_ADDRESS) },
    ]);
    assert.equal(batch.stackTraces[0].frameTypes.length, 3);
  });
});
