/** Event filters → Elasticsearch query DSL. */
import { isIP } from 'node:net';
import { UnsupportedFilterError, type EventField, type EventFilter } from '../store.ts';

type Query = Record<string, unknown>;

/** Wildcard syntax has `*`, `?` and `\`; only `*` is a wildcard for our users, the rest is literal. */
function wildcardValue(pattern: string): string {
  return pattern.replace(/[\\?]/g, (c) => `\\${c}`);
}

function matchQuery(field: EventField, pattern: string): Query {
  if (field === 'host.ip') return ipMatch(pattern);
  if (!pattern.includes('*')) return { term: { [field]: pattern } };
  return { wildcard: { [field]: { value: wildcardValue(pattern) } } };
}

/**
 * `host.ip` is an `ip` field: exact addresses and CIDR blocks are terms; `*` alone means "has an address";
 * a trailing-wildcard prefix of whole octets (`10.1.*`) becomes the matching CIDR block.
 */
function ipMatch(pattern: string): Query {
  if (pattern === '*') return { exists: { field: 'host.ip' } };
  if (!pattern.includes('*')) {
    return isIP(pattern) || /^[0-9a-fA-F.:]+\/\d+$/.test(pattern)
      ? { term: { 'host.ip': pattern } }
      : matchNothing();
  }
  const prefix = /^((?:\d{1,3}\.){1,3})\*$/.exec(pattern);
  if (prefix) {
    const octets = prefix[1].split('.').filter((o) => o !== '');
    const address = [...octets, ...Array(4 - octets.length).fill('0')].join('.');
    return { term: { 'host.ip': `${address}/${octets.length * 8}` } };
  }
  throw new UnsupportedFilterError(
    `host.ip pattern "${pattern}": on Elasticsearch only addresses, CIDR blocks and "a.b.*" prefixes work`,
  );
}

function matchNothing(): Query {
  return { bool: { must_not: { match_all: {} } } };
}

export function filterQuery(filter: EventFilter): Query {
  switch (filter.kind) {
    case 'match':
      return matchQuery(filter.field, filter.pattern);
    case 'not':
      return { bool: { must_not: [filterQuery(filter.filter)] } };
    case 'and':
      return filter.filters.length === 0
        ? { match_all: {} }
        : { bool: { filter: filter.filters.map(filterQuery) } };
    case 'or':
      return filter.filters.length === 0
        ? matchNothing()
        : { bool: { should: filter.filters.map(filterQuery), minimum_should_match: 1 } };
  }
}

/** `[from, to)` in epoch seconds, plus the filter. */
export function eventsQuery(from: number, to: number, filter?: EventFilter): Query {
  const clauses: Query[] = [
    {
      range: {
        '@timestamp': {
          gte: Math.max(0, Math.floor(from)),
          lt: Math.max(0, Math.ceil(to)),
          format: 'epoch_second',
        },
      },
    },
  ];
  if (filter) clauses.push(filterQuery(filter));
  return { bool: { filter: clauses } };
}
