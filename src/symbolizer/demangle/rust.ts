/**
 * Rust symbol demangling: the legacy scheme (Itanium-shaped `_ZN...17h<hash>E` with `$..$` escapes) and
 * the v0 scheme (`_R...`). Output matches rustc-demangle's alternate form (no hashes or disambiguators),
 * which is also how LLVM prints v0 names.
 */

class RustDemangleError extends Error {}

const LEGACY_ESCAPES: Record<string, string> = {
  SP: '@',
  BP: '*',
  RF: '&',
  LT: '<',
  GT: '>',
  LP: '(',
  RP: ')',
  C: ',',
};

/** `_ZN<len><ident>...17h<16 hex>E` with an optional `.suffix`; undefined when not a legacy Rust name. */
export function demangleRustLegacy(name: string): string | undefined {
  const body = name.startsWith('_ZN') ? name.slice(3) : name.startsWith('ZN') ? name.slice(2) : undefined;
  if (body === undefined) return undefined;
  const parts: string[] = [];
  let pos = 0;
  while (pos < body.length && body[pos] !== 'E') {
    const start = pos;
    while (pos < body.length && body[pos] >= '0' && body[pos] <= '9') pos++;
    if (pos === start) return undefined;
    const length = Number(body.slice(start, pos));
    if (length === 0 || pos + length > body.length) return undefined;
    parts.push(body.slice(pos, pos + length));
    pos += length;
  }
  if (body[pos] !== 'E' || parts.length < 2) return undefined;
  const rest = body.slice(pos + 1);
  if (rest !== '' && !rest.startsWith('.')) return undefined;
  const hash = parts[parts.length - 1];
  if (!/^h[0-9a-f]{16}$/.test(hash)) return undefined;
  const decoded: string[] = [];
  for (const part of parts.slice(0, -1)) {
    const text = decodeLegacyComponent(part);
    if (text === undefined) return undefined;
    decoded.push(text);
  }
  // Same suffix spelling as for v0 names; ".llvm.<hash>" (LTO promotion) is noise and dropped.
  const suffix = rest === '' || rest.startsWith('.llvm.') ? '' : ` (${rest})`;
  return decoded.join('::') + suffix;
}

function decodeLegacyComponent(part: string): string | undefined {
  let s = part.startsWith('_$') ? part.slice(1) : part;
  let out = '';
  while (s.length > 0) {
    if (s.startsWith('.')) {
      if (s.startsWith('..')) {
        out += '::';
        s = s.slice(2);
      } else {
        out += '.';
        s = s.slice(1);
      }
    } else if (s.startsWith('$')) {
      const end = s.indexOf('$', 1);
      if (end < 0) return undefined;
      const code = s.slice(1, end);
      if (LEGACY_ESCAPES[code] !== undefined) out += LEGACY_ESCAPES[code];
      else if (/^u[0-9a-f]+$/.test(code)) out += String.fromCodePoint(parseInt(code.slice(1), 16));
      else return undefined;
      s = s.slice(end + 1);
    } else {
      const next = s.search(/[.$]/);
      const chunk = next < 0 ? s : s.slice(0, next);
      out += chunk;
      s = s.slice(chunk.length);
    }
  }
  return out;
}

const BASIC_TYPES: Record<string, string> = {
  a: 'i8',
  b: 'bool',
  c: 'char',
  d: 'f64',
  e: 'str',
  f: 'f32',
  h: 'u8',
  i: 'isize',
  j: 'usize',
  l: 'i32',
  m: 'u32',
  n: 'i128',
  o: 'u128',
  s: 'i16',
  t: 'u16',
  u: '()',
  v: '...',
  x: 'i64',
  y: 'u64',
  z: '!',
  p: '_',
};

const MAX_DEPTH = 200;

class V0Parser {
  private readonly s: string;
  pos: number;
  private depth = 0;
  /** Lifetimes bound by enclosing `for<...>` binders (de Bruijn indexes count back from here). */
  private boundLifetimes = 0;
  /** Offset that backreferences count from: just after "_R". */
  private readonly base: number;

  constructor(s: string, base: number) {
    this.s = s;
    this.base = base;
    this.pos = base;
  }

  private fail(): never {
    throw new RustDemangleError(`bad v0 symbol at ${this.pos}`);
  }

  private peek(): string {
    return this.s[this.pos] ?? '';
  }

  private next(): string {
    if (this.pos >= this.s.length) this.fail();
    return this.s[this.pos++];
  }

  private consume(c: string): boolean {
    if (this.peek() === c) {
      this.pos++;
      return true;
    }
    return false;
  }

  private enter(): void {
    if (++this.depth > MAX_DEPTH) this.fail();
  }

  private base62(): number {
    if (this.consume('_')) return 0;
    let value = 0;
    for (;;) {
      const c = this.next();
      if (c === '_') return value + 1;
      let digit: number;
      if (c >= '0' && c <= '9') digit = c.charCodeAt(0) - 48;
      else if (c >= 'a' && c <= 'z') digit = c.charCodeAt(0) - 87;
      else if (c >= 'A' && c <= 'Z') digit = c.charCodeAt(0) - 29;
      else this.fail();
      // Crate disambiguators are 64-bit hashes: precision loss there is harmless (they are not printed);
      // backrefs and closure indexes are small and stay exact.
      value = value * 62 + digit;
    }
  }

  private disambiguator(): number {
    return this.consume('s') ? this.base62() + 1 : 0;
  }

  private decimal(): number {
    // "0" stands alone: "00" is two numbers (e.g. two empty closure names in a row).
    if (this.consume('0')) return 0;
    const start = this.pos;
    while (this.peek() >= '0' && this.peek() <= '9') this.pos++;
    if (this.pos === start) this.fail();
    return Number(this.s.slice(start, this.pos));
  }

  private identifier(): { name: string; disambiguator: number } {
    const disambiguator = this.disambiguator();
    return { name: this.undisambiguatedIdentifier(), disambiguator };
  }

  private undisambiguatedIdentifier(): string {
    const punycode = this.consume('u');
    const length = this.decimal();
    this.consume('_');
    if (this.pos + length > this.s.length) this.fail();
    const bytes = this.s.slice(this.pos, this.pos + length);
    this.pos += length;
    // Punycode identifiers (non-ASCII source names) are rare; we do not decode them.
    if (punycode) this.fail();
    return bytes;
  }

  private backref<T>(parse: () => T): T {
    const target = this.base + this.base62();
    if (target >= this.pos - 1) this.fail();
    const saved = this.pos;
    this.pos = target;
    try {
      return parse();
    } finally {
      this.pos = saved;
    }
  }

  /** A path; `inValue` prints generic arguments with the turbofish `::<...>`. */
  path(inValue: boolean): string {
    this.enter();
    try {
      const tag = this.next();
      switch (tag) {
        case 'C':
          return this.identifier().name;
        case 'M': {
          this.disambiguator();
          this.path(false);
          return `<${this.type()}>`;
        }
        case 'X': {
          this.disambiguator();
          this.path(false);
          const self = this.type();
          return `<${self} as ${this.path(false)}>`;
        }
        case 'Y': {
          const self = this.type();
          return `<${self} as ${this.path(false)}>`;
        }
        case 'N': {
          const namespace = this.next();
          const prefix = this.path(inValue);
          const { name, disambiguator } = this.identifier();
          if (namespace >= 'a' && namespace <= 'z') return name === '' ? prefix : `${prefix}::${name}`;
          const kind = namespace === 'C' ? 'closure' : namespace === 'S' ? 'shim' : namespace;
          return `${prefix}::{${kind}${name === '' ? '' : `:${name}`}#${disambiguator}}`;
        }
        case 'I': {
          const path = this.path(inValue);
          const args: string[] = [];
          while (!this.consume('E')) args.push(this.genericArg());
          return `${path}${inValue ? '::' : ''}<${args.join(', ')}>`;
        }
        case 'B':
          return this.backref(() => this.path(inValue));
        default:
          return this.fail();
      }
    } finally {
      this.depth--;
    }
  }

  private genericArg(): string {
    if (this.consume('L')) {
      const index = this.base62();
      return index === 0 ? "'_" : `'${this.lifetimeName(index)}`;
    }
    if (this.consume('K')) return this.constValue();
    return this.type();
  }

  private lifetime(): string {
    if (!this.consume('L')) return '';
    const index = this.base62();
    return index === 0 ? '' : `'${this.lifetimeName(index)} `;
  }

  type(): string {
    this.enter();
    try {
      const c = this.peek();
      if (BASIC_TYPES[c]) {
        this.pos++;
        return BASIC_TYPES[c];
      }
      switch (c) {
        case 'R':
        case 'Q': {
          this.pos++;
          const lifetime = this.lifetime();
          return `&${lifetime}${c === 'Q' ? 'mut ' : ''}${this.type()}`;
        }
        case 'P':
          this.pos++;
          return `*const ${this.type()}`;
        case 'O':
          this.pos++;
          return `*mut ${this.type()}`;
        case 'A': {
          this.pos++;
          const element = this.type();
          return `[${element}; ${this.constValue()}]`;
        }
        case 'S':
          this.pos++;
          return `[${this.type()}]`;
        case 'T': {
          this.pos++;
          const items: string[] = [];
          while (!this.consume('E')) items.push(this.type());
          return items.length === 1 ? `(${items[0]},)` : `(${items.join(', ')})`;
        }
        case 'F':
          this.pos++;
          return this.fnSig();
        case 'D': {
          this.pos++;
          const bounds = this.dynBounds();
          this.lifetime();
          return bounds;
        }
        case 'B':
          this.pos++;
          return this.backref(() => this.type());
        default:
          return this.path(false);
      }
    } finally {
      this.depth--;
    }
  }

  private lifetimeName(index: number): string {
    const depth = this.boundLifetimes - index;
    return depth < 0 ? '_' : nthLifetime(depth);
  }

  /** A `for<...>` binder; the caller restores `boundLifetimes` when the bound scope ends. */
  private binder(): string {
    if (!this.consume('G')) return '';
    const count = this.base62() + 1;
    const names = Array.from({ length: count }, (_, i) => `'${nthLifetime(this.boundLifetimes + i)}`);
    this.boundLifetimes += count;
    return `for<${names.join(', ')}> `;
  }

  private fnSig(): string {
    const saved = this.boundLifetimes;
    try {
      return this.fnSigInner();
    } finally {
      this.boundLifetimes = saved;
    }
  }

  private fnSigInner(): string {
    const binder = this.binder();
    const unsafe = this.consume('U') ? 'unsafe ' : '';
    let abi = '';
    if (this.consume('K')) {
      abi = this.consume('C')
        ? 'extern "C" '
        : `extern "${this.undisambiguatedIdentifier().replace(/_/g, '-')}" `;
    }
    const params: string[] = [];
    while (!this.consume('E')) params.push(this.type());
    const ret = this.type();
    return `${binder}${unsafe}${abi}fn(${params.join(', ')})${ret === '()' ? '' : ` -> ${ret}`}`;
  }

  private dynBounds(): string {
    const saved = this.boundLifetimes;
    try {
      return this.dynBoundsInner();
    } finally {
      this.boundLifetimes = saved;
    }
  }

  private dynBoundsInner(): string {
    const binder = this.binder();
    const traits: string[] = [];
    while (!this.consume('E')) {
      let trait = this.path(false);
      const bindings: string[] = [];
      while (this.consume('p')) {
        const name = this.undisambiguatedIdentifier();
        bindings.push(`${name} = ${this.type()}`);
      }
      if (bindings.length > 0) {
        trait = trait.endsWith('>')
          ? `${trait.slice(0, -1)}, ${bindings.join(', ')}>`
          : `${trait}<${bindings.join(', ')}>`;
      }
      traits.push(trait);
    }
    return `dyn ${binder}${traits.join(' + ')}`;
  }

  private constValue(): string {
    if (this.consume('p')) return '_';
    if (this.peek() === 'B') {
      this.pos++;
      return this.backref(() => this.constValue());
    }
    const type = this.type();
    const negative = this.consume('n');
    const start = this.pos;
    while (/[0-9a-f]/.test(this.peek())) this.pos++;
    const hex = this.s.slice(start, this.pos);
    if (!this.consume('_')) this.fail();
    const value = hex === '' ? 0n : BigInt(`0x${hex}`);
    if (type === 'bool') return value === 0n ? 'false' : 'true';
    if (type === 'char') return `'${String.fromCodePoint(Number(value))}'`;
    return `${negative ? '-' : ''}${value}`;
  }

  get atEnd(): boolean {
    return this.pos >= this.s.length;
  }
}

function nthLifetime(depth: number): string {
  return depth < 26 ? String.fromCharCode(97 + depth) : `_${depth}`;
}

/** Demangle a v0 Rust symbol (`_R...`); undefined when it is not one or is malformed. */
export function demangleRustV0(name: string): string | undefined {
  if (!name.startsWith('_R')) return undefined;
  let base = 2;
  while (name[base] >= '0' && name[base] <= '9') base++; // encoding version
  let symbol = name;
  let suffix = '';
  const dot = name.indexOf('.');
  if (dot >= 0) {
    symbol = name.slice(0, dot);
    // LLVM's spelling for compiler-added suffixes; ".llvm.<hash>" (LTO promotion) is noise and dropped.
    if (!name.startsWith('.llvm.', dot)) suffix = ` (${name.slice(dot)})`;
  }
  try {
    const parser = new V0Parser(symbol, base);
    const path = parser.path(true);
    // Whatever follows is the instantiating crate, which the demangled form leaves out.
    if (!parser.atEnd) parser.path(false);
    return path + suffix;
  } catch (error) {
    if (error instanceof RustDemangleError || error instanceof RangeError || error instanceof SyntaxError)
      return undefined;
    throw error;
  }
}
