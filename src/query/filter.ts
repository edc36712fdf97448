import { EVENT_FIELDS, type EventField, type EventFilter } from '../store/store.ts';

/**
 * A small KQL-like filter language over event fields:
 *
 *   host.name:web-* and not (thread:gc or thread:"GC Thread#0") or tags:(prod or canary)
 *
 * `and` binds tighter than `or`; juxtaposed terms mean `and`; `*` is a wildcard; values with spaces or
 * parentheses are double-quoted (`\"` and `\\` escape). Short aliases (host, thread, …) name the full fields.
 */
export class FilterSyntaxError extends Error {
  override readonly name = 'FilterSyntaxError';
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(`${message} at position ${position}`);
  }
}

export const FIELD_ALIASES: Readonly<Record<string, EventField>> = {
  host: 'host.name',
  'host.name': 'host.name',
  hostid: 'host.id',
  ip: 'host.ip',
  process: 'process.executable.name',
  executable: 'process.executable.name',
  thread: 'process.thread.name',
  container: 'container.name',
  containerid: 'container.id',
  pod: 'orchestrator.resource.name',
  namespace: 'k8s.namespace.name',
  service: 'service.name',
  tag: 'tags',
  project: 'profiling.project.id',
};

export function resolveField(name: string): EventField | undefined {
  const lower = name.toLowerCase();
  if ((EVENT_FIELDS as readonly string[]).includes(lower)) return lower as EventField;
  return FIELD_ALIASES[lower];
}

type Token =
  | { type: 'word'; text: string; quoted: boolean; position: number }
  | { type: '(' | ')' | ':'; position: number }
  | { type: 'end'; position: number };

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '(' || c === ')' || c === ':') {
      tokens.push({ type: c, position: i });
      i++;
    } else if (c === '"') {
      const start = i++;
      let text = '';
      while (i < source.length && source[i] !== '"') {
        if (source[i] === '\\' && i + 1 < source.length) i++;
        text += source[i++];
      }
      if (i >= source.length) throw new FilterSyntaxError('unterminated quoted value', start);
      i++;
      tokens.push({ type: 'word', text, quoted: true, position: start });
    } else {
      const start = i;
      while (i < source.length && !/[\s():"]/.test(source[i])) i++;
      tokens.push({ type: 'word', text: source.slice(start, i), quoted: false, position: start });
    }
  }
  tokens.push({ type: 'end', position: source.length });
  return tokens;
}

/**
 * Deepest nesting of parentheses and `not`s: far beyond what a person writes, well below what exhausts the
 * stack of the recursive descent (and of the SQL and query translations that walk the result).
 */
export const MAX_FILTER_DEPTH = 64;

class Parser {
  private index = 0;
  private depth = 0;
  constructor(private readonly tokens: Token[]) {}

  parse(): EventFilter {
    const filter = this.parseOr();
    const next = this.peek();
    if (next.type !== 'end') throw new FilterSyntaxError(`unexpected "${describe(next)}"`, next.position);
    return filter;
  }

  private peek(): Token {
    return this.tokens[this.index];
  }

  private isKeyword(token: Token, keyword: string): boolean {
    return token.type === 'word' && !token.quoted && token.text.toLowerCase() === keyword;
  }

  private parseOr(): EventFilter {
    const terms = [this.parseAnd()];
    while (this.isKeyword(this.peek(), 'or')) {
      this.index++;
      terms.push(this.parseAnd());
    }
    return terms.length === 1 ? terms[0] : { kind: 'or', filters: terms };
  }

  private parseAnd(): EventFilter {
    const terms = [this.parseNot()];
    for (;;) {
      const next = this.peek();
      if (this.isKeyword(next, 'and')) {
        this.index++;
      } else if (next.type === 'end' || next.type === ')' || this.isKeyword(next, 'or')) {
        break;
      }
      terms.push(this.parseNot());
    }
    return terms.length === 1 ? terms[0] : { kind: 'and', filters: terms };
  }

  private parseNot(): EventFilter {
    const token = this.peek();
    if (this.isKeyword(token, 'not')) {
      this.index++;
      return { kind: 'not', filter: this.nested(token, () => this.parseNot()) };
    }
    return this.parsePrimary();
  }

  private nested(token: Token, parse: () => EventFilter): EventFilter {
    if (++this.depth > MAX_FILTER_DEPTH) {
      throw new FilterSyntaxError(`filter nested more than ${MAX_FILTER_DEPTH} levels deep`, token.position);
    }
    const filter = parse();
    this.depth--;
    return filter;
  }

  private parsePrimary(): EventFilter {
    const token = this.peek();
    if (token.type === '(') {
      this.index++;
      const inner = this.nested(token, () => this.parseOr());
      this.expect(')');
      return inner;
    }
    if (token.type !== 'word') {
      throw new FilterSyntaxError(`expected a field name, got "${describe(token)}"`, token.position);
    }
    this.index++;
    const field = resolveField(token.text);
    if (!field) {
      const known = [...EVENT_FIELDS, ...Object.keys(FIELD_ALIASES)].join(', ');
      throw new FilterSyntaxError(`unknown field "${token.text}" (known: ${known})`, token.position);
    }
    this.expect(':');
    return this.parseValues(field);
  }

  /** After `field:` comes one value or a parenthesised `or`-list of values. */
  private parseValues(field: EventField): EventFilter {
    const token = this.peek();
    if (token.type === '(') {
      this.index++;
      const values = [this.expectValue()];
      while (this.isKeyword(this.peek(), 'or')) {
        this.index++;
        values.push(this.expectValue());
      }
      this.expect(')');
      const matches = values.map((pattern): EventFilter => ({ kind: 'match', field, pattern }));
      return matches.length === 1 ? matches[0] : { kind: 'or', filters: matches };
    }
    return { kind: 'match', field, pattern: this.expectValue() };
  }

  private expectValue(): string {
    const token = this.peek();
    if (token.type !== 'word')
      throw new FilterSyntaxError(`expected a value, got "${describe(token)}"`, token.position);
    this.index++;
    return token.text;
  }

  private expect(type: '(' | ')' | ':'): void {
    const token = this.peek();
    if (token.type !== type) {
      throw new FilterSyntaxError(`expected "${type}", got "${describe(token)}"`, token.position);
    }
    this.index++;
  }
}

function describe(token: Token): string {
  if (token.type === 'word') return token.text;
  if (token.type === 'end') return 'end of filter';
  return token.type;
}

/** Parses a filter string; an empty or blank string means "no filter" (undefined). */
export function parseFilter(source: string): EventFilter | undefined {
  if (source.trim() === '') return undefined;
  return new Parser(tokenize(source)).parse();
}

/** Joins filters with `and`, dropping absent ones. */
export function andFilters(...filters: (EventFilter | undefined)[]): EventFilter | undefined {
  const present = filters.filter((f): f is EventFilter => f !== undefined);
  if (present.length === 0) return undefined;
  return present.length === 1 ? present[0] : { kind: 'and', filters: present };
}
