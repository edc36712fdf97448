/**
 * A request written field by field with the wire numbers of the revision the eBPF profiler v0.0.202633 sends
 * (go.opentelemetry.io/proto/otlp/profiles/v1development v0.4.0), shared by the protocol and translation tests.
 */
import { bytes, type Field } from './wire-writer.ts';

export const KERNEL_ADDRESS = 0xffffffff81000abcn;
export const NATIVE_ADDRESS = 0x4a2f1n;
export const FILE_ID_HEX = '0123456789abcdef0123456789abcdef';
export const KERNEL_FILE_ID_HEX = 'fedcba9876543210fedcba9876543210';
export const T1 = 1_790_000_000_123_456_789n;
export const T2 = 1_790_000_000_999_999_999n;
export const T3 = 1_790_000_001_000_000_000n;

export const STRINGS = [
  '',
  'samples',
  'count',
  'cpu',
  'nanoseconds',
  'vmlinux',
  'thread.name',
  'process.executable.build_id.htlhash',
  'profile.frame.type',
  'kworker/0:1',
  FILE_ID_HEX,
  'kernel',
  'native',
  'myapp',
  'cpython',
  'handle_request',
  '/srv/app.py',
  KERNEL_FILE_ID_HEX,
  'process.executable.build_id.gnu',
  'abcdef0123456789abcdef0123456789abcdef01',
  'do_syscall_64',
  'process.context.label.tenant',
  'acme',
];
const s = (text: string): number => {
  const index = STRINGS.indexOf(text);
  if (index < 0) throw new Error(`test string table lacks ${text}`);
  return index;
};

const stringValue = (text: string): Field[] => [{ field: 1, bytes: text }];
const attribute = (key: string, value: string): Field[] => [
  { field: 1, varint: s(key) },
  { field: 2, message: stringValue(value) },
];

/** Attribute table: index → (key, value). */
export const ATTRIBUTES: [string, string][] = [
  ['', ''],
  ['thread.name', 'kworker/0:1'],
  ['process.executable.build_id.htlhash', FILE_ID_HEX],
  ['profile.frame.type', 'kernel'],
  ['profile.frame.type', 'native'],
  ['profile.frame.type', 'cpython'],
  ['process.executable.build_id.htlhash', KERNEL_FILE_ID_HEX],
  ['process.executable.build_id.gnu', 'abcdef0123456789abcdef0123456789abcdef01'],
  ['process.context.label.tenant', 'acme'],
];

export interface AgentRequestParts {
  /** Sample fields, numbered for the current revision; `previous` renumbers them. */
  revision?: 'current' | 'previous';
  /** Override or drop parts to build bad requests. */
  stackIndex?: number;
  locationIndices?: number[];
  extraDictionary?: Field[];
  withoutDictionary?: boolean;
}

/**
 * Dictionary: mapping 1 = myapp (file ID, GNU build ID), mapping 2 = vmlinux (file ID); locations: 1 native in
 * myapp, 2 kernel (address above 2^63) with a kallsyms line, 3 a Python frame without mapping; stack 1 =
 * [kernel, native, python] (leaf first). Two samples: three timestamps on one thread, one labelled timestamp.
 */
export function agentRequestFields(parts: AgentRequestParts = {}): Field[] {
  const previous = parts.revision === 'previous';
  const sampleAttributesField = previous ? 3 : 2;
  const dictionary: Field[] = [
    { field: 1, message: [] },
    {
      field: 1,
      message: [
        { field: 4, varint: s('myapp') },
        { field: 5, packedVarints: [2, 7] },
      ],
    },
    {
      field: 1,
      message: [
        { field: 4, varint: s('vmlinux') },
        { field: 5, packedVarints: [6] },
      ],
    },
    { field: 2, message: [] },
    {
      field: 2,
      message: [
        { field: 1, varint: 1 },
        { field: 2, varint: NATIVE_ADDRESS },
        { field: 4, packedVarints: [4] },
      ],
    },
    {
      field: 2,
      message: [
        { field: 1, varint: 2 },
        { field: 2, varint: KERNEL_ADDRESS },
        { field: 3, message: [{ field: 1, varint: 2 }] },
        { field: 4, packedVarints: [3] },
      ],
    },
    {
      field: 2,
      message: [
        {
          field: 3,
          message: [
            { field: 1, varint: 1 },
            { field: 2, varint: 42 },
            { field: 3, varint: 7 },
          ],
        },
        { field: 4, packedVarints: [5] },
      ],
    },
    { field: 3, message: [] },
    {
      field: 3,
      message: [
        { field: 1, varint: s('handle_request') },
        { field: 3, varint: s('/srv/app.py') },
      ],
    },
    { field: 3, message: [{ field: 1, varint: s('do_syscall_64') }] },
    ...STRINGS.map((text): Field => ({ field: 5, bytes: text })),
    ...ATTRIBUTES.map(([key, value]): Field => ({ field: 6, message: key ? attribute(key, value) : [] })),
    { field: 7, message: [] },
    { field: 7, message: [{ field: 1, packedVarints: parts.locationIndices ?? [2, 1, 3] }] },
    ...(parts.extraDictionary ?? []),
  ];
  const samples: Field[] = [
    {
      field: 2,
      message: [
        { field: 1, varint: parts.stackIndex ?? 1 },
        { field: sampleAttributesField, packedVarints: [1] },
        { field: 5, packedFixed64: [T1, T2, T3] },
      ],
    },
    {
      field: 2,
      message: [
        { field: 1, varint: parts.stackIndex ?? 1 },
        { field: sampleAttributesField, packedVarints: [1, 8] },
        { field: 5, packedFixed64: [T1] },
        // link_index 0 written explicitly: a varint in field 3 (current) or 4 (previous).
        { field: previous ? 4 : 3, varint: 0 },
      ],
    },
  ];
  const profile: Field[] = [
    {
      field: 1,
      message: [
        { field: 1, varint: s('samples') },
        { field: 2, varint: s('count') },
      ],
    },
    ...samples,
    { field: 3, fixed64: T1 - 5_000_000_000n },
    { field: 4, varint: 5_000_000_000 },
    {
      field: 5,
      message: [
        { field: 1, varint: s('cpu') },
        { field: 2, varint: s('nanoseconds') },
      ],
    },
    { field: 6, varint: 50_000_000 },
  ];
  const resource: Field[] = [
    {
      field: 1,
      message: [
        { field: 1, bytes: 'host.id' },
        { field: 2, message: stringValue('host-a') },
      ],
    },
    {
      field: 1,
      message: [
        { field: 1, bytes: 'process.executable.name' },
        { field: 2, message: stringValue('myapp') },
      ],
    },
    {
      field: 1,
      message: [
        { field: 1, bytes: 'process.pid' },
        { field: 2, message: [{ field: 3, varint: 4242 }] },
      ],
    },
    {
      field: 1,
      message: [
        { field: 1, bytes: 'container.id' },
        { field: 2, message: stringValue('c0ffee') },
      ],
    },
  ];
  const resourceProfiles: Field[] = [
    { field: 1, message: resource },
    {
      field: 2,
      message: [
        {
          field: 1,
          message: [
            { field: 1, bytes: '/usr/bin/ebpf-profiler' },
            { field: 2, bytes: 'v0.0.202633' },
          ],
        },
        { field: 2, message: profile },
      ],
    },
  ];
  return [
    { field: 1, message: resourceProfiles },
    ...(parts.withoutDictionary ? [] : [{ field: 2, message: dictionary } as Field]),
  ];
}

export function agentRequestBytes(parts: AgentRequestParts = {}): Uint8Array {
  return bytes(agentRequestFields(parts));
}
