import type { EventField, EventFilter } from '../store.ts';
import { DIMENSION_COLUMNS } from './schema.ts';

export interface SqlFragment {
  sql: string;
  params: string[];
}

/** `*` is the only wildcard a user types; everything else, LIKE's own `%` and `_` included, is literal. */
function likePattern(pattern: string): string {
  return pattern.replace(/[\\%_]/g, (c) => `\\${c}`).replace(/\*/g, '%');
}

function matchSql(field: EventField, pattern: string): SqlFragment {
  const column = DIMENSION_COLUMNS[field];
  const wildcard = pattern.includes('*');
  if (field === 'tags') {
    return wildcard
      ? { sql: `len(list_filter(tags, t -> t LIKE ? ESCAPE '\\')) > 0`, params: [likePattern(pattern)] }
      : { sql: 'list_contains(tags, ?)', params: [pattern] };
  }
  const value = field === 'profiling.project.id' ? `CAST(${column} AS VARCHAR)` : column;
  return wildcard
    ? { sql: `${value} LIKE ? ESCAPE '\\'`, params: [likePattern(pattern)] }
    : { sql: `${value} = ?`, params: [pattern] };
}

/** Translates a filter into a condition over `event_dims` columns, with positional parameters. */
export function filterToSql(filter: EventFilter): SqlFragment {
  switch (filter.kind) {
    case 'match':
      return matchSql(filter.field, filter.pattern);
    case 'not': {
      const inner = filterToSql(filter.filter);
      return { sql: `NOT coalesce(${inner.sql}, false)`, params: inner.params };
    }
    case 'and':
    case 'or': {
      if (filter.filters.length === 0) return { sql: filter.kind === 'and' ? 'true' : 'false', params: [] };
      const parts = filter.filters.map(filterToSql);
      return {
        sql: parts.map((p) => `(${p.sql})`).join(filter.kind === 'and' ? ' AND ' : ' OR '),
        params: parts.flatMap((p) => p.params),
      };
    }
  }
}
