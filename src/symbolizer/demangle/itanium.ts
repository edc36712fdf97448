/**
 * Itanium C++ ABI demangler (the scheme of GCC and Clang on ELF platforms). Output follows the spelling
 * of LLVM's demangler (llvm-cxxfilt / llvm-symbolizer), which the tests compare against.
 *
 * Types are small nodes printed in two halves (left and right of the declarator) so that pointers to
 * functions and arrays come out as `void (*)(int)` and `int (*) [5]`.
 */

class DemangleError extends Error {}

type Node =
  | { k: 'name'; s: string }
  | { k: 'nested'; prefix: Node; name: Node }
  | { k: 'template'; name: Node; args: Node[] }
  | { k: 'qual'; child: Node; quals: string }
  | { k: 'ptr'; child: Node; op: '*' | '&' | '&&' }
  | { k: 'array'; child: Node; dim: string }
  | { k: 'func'; ret: Node | undefined; params: Node[]; cv: string; ref: string }
  | { k: 'memptr'; cls: Node; member: Node }
  | { k: 'pack'; items: Node[] }
  | { k: 'parampack'; items: Node[] }
  | { k: 'expansion'; child: Node }
  | { k: 'vector'; child: Node; dim: string }
  | { k: 'special'; prefix: string; child: Node }
  | { k: 'ctor'; base: Node; dtor: boolean }
  | {
      k: 'encoding';
      ret: Node | undefined;
      name: Node;
      params: Node[];
      cv: string;
      ref: string;
      suffix: string;
    }
  | { k: 'local'; encoding: Node; entity: Node }
  | { k: 'abi'; child: Node; tag: string }
  | { k: 'conversion'; type: Node }
  | { k: 'std'; short: string; full: string; base: string }
  | { k: 'seq'; parts: (string | Node)[] }
  | { k: 'list'; items: Node[] };

/** Build a node that prints text and nodes in order, keeping parameter packs expandable. */
function seq(strings: TemplateStringsArray, ...values: (Node | string)[]): Node {
  const parts: (string | Node)[] = [];
  strings.forEach((text, i) => {
    if (text !== '') parts.push(text);
    if (i < values.length) parts.push(values[i]);
  });
  return { k: 'seq', parts };
}

function list(items: Node[]): Node {
  return { k: 'list', items };
}

const BUILTIN: Record<string, string> = {
  v: 'void',
  w: 'wchar_t',
  b: 'bool',
  c: 'char',
  a: 'signed char',
  h: 'unsigned char',
  s: 'short',
  t: 'unsigned short',
  i: 'int',
  j: 'unsigned int',
  l: 'long',
  m: 'unsigned long',
  x: 'long long',
  y: 'unsigned long long',
  n: '__int128',
  o: 'unsigned __int128',
  f: 'float',
  d: 'double',
  e: 'long double',
  g: '__float128',
  z: '...',
};

const BUILTIN_D: Record<string, string> = {
  d: 'decimal64',
  e: 'decimal128',
  f: 'decimal32',
  h: 'half',
  i: 'char32_t',
  s: 'char16_t',
  u: 'char8_t',
  a: 'auto',
  c: 'decltype(auto)',
  n: 'std::nullptr_t',
};

/** Operator encodings: [spelling, arity] (arity 1 = prefix, 2 = infix, other = special). */
const OPERATORS: Record<string, [string, number]> = {
  aa: ['&&', 2],
  ad: ['&', 1],
  an: ['&', 2],
  aN: ['&=', 2],
  aS: ['=', 2],
  aw: ['co_await', 1],
  cl: ['()', 0],
  cm: [',', 2],
  co: ['~', 1],
  da: ['delete[]', 0],
  de: ['*', 1],
  dl: ['delete', 0],
  dv: ['/', 2],
  dV: ['/=', 2],
  eo: ['^', 2],
  eO: ['^=', 2],
  eq: ['==', 2],
  ge: ['>=', 2],
  gt: ['>', 2],
  ix: ['[]', 0],
  le: ['<=', 2],
  ls: ['<<', 2],
  lS: ['<<=', 2],
  lt: ['<', 2],
  mi: ['-', 2],
  mI: ['-=', 2],
  ml: ['*', 2],
  mL: ['*=', 2],
  mm: ['--', 1],
  na: ['new[]', 0],
  ne: ['!=', 2],
  ng: ['-', 1],
  nt: ['!', 1],
  nw: ['new', 0],
  oo: ['||', 2],
  or: ['|', 2],
  oR: ['|=', 2],
  pl: ['+', 2],
  pL: ['+=', 2],
  pm: ['->*', 2],
  pp: ['++', 1],
  ps: ['+', 1],
  pt: ['->', 2],
  qu: ['?', 3],
  rm: ['%', 2],
  rM: ['%=', 2],
  rs: ['>>', 2],
  rS: ['>>=', 2],
  ss: ['<=>', 2],
};

const STD_SUBSTITUTIONS: Record<string, [string, string, string]> = {
  a: ['std::allocator', 'std::allocator', 'allocator'],
  b: ['std::basic_string', 'std::basic_string', 'basic_string'],
  s: [
    'std::string',
    'std::basic_string<char, std::char_traits<char>, std::allocator<char> >',
    'basic_string',
  ],
  i: ['std::istream', 'std::basic_istream<char, std::char_traits<char> >', 'basic_istream'],
  o: ['std::ostream', 'std::basic_ostream<char, std::char_traits<char> >', 'basic_ostream'],
  d: ['std::iostream', 'std::basic_iostream<char, std::char_traits<char> >', 'basic_iostream'],
};

const MAX_DEPTH = 256;

class ItaniumParser {
  private readonly s: string;
  private pos = 0;
  private readonly subs: Node[] = [];
  private templateParams: Node[] = [];
  private inLambdaParams = false;
  private depth = 0;

  constructor(s: string) {
    this.s = s;
  }

  private fail(): never {
    throw new DemangleError(`bad mangled name at ${this.pos}`);
  }

  private peek(offset = 0): string {
    return this.s[this.pos + offset] ?? '';
  }

  private consume(text: string): boolean {
    if (this.s.startsWith(text, this.pos)) {
      this.pos += text.length;
      return true;
    }
    return false;
  }

  private expect(text: string): void {
    if (!this.consume(text)) this.fail();
  }

  private enter(): void {
    if (++this.depth > MAX_DEPTH) this.fail();
  }

  private number(): string {
    const start = this.pos;
    this.consume('n');
    while (this.pos < this.s.length && this.s[this.pos] >= '0' && this.s[this.pos] <= '9') this.pos++;
    if (this.pos === start) this.fail();
    const text = this.s.slice(start, this.pos);
    return text.startsWith('n') ? `-${text.slice(1)}` : text;
  }

  private digits(): number {
    const start = this.pos;
    while (this.pos < this.s.length && this.s[this.pos] >= '0' && this.s[this.pos] <= '9') this.pos++;
    if (this.pos === start) this.fail();
    return Number(this.s.slice(start, this.pos));
  }

  /** Top level: `_Z <encoding> [.<clone suffix>]*`, or a special name. */
  mangled(): Node {
    this.expect('_Z');
    const node = this.encoding(true);
    if (this.peek() === '.') {
      const suffix = this.s.slice(this.pos);
      this.pos = this.s.length;
      if (node.k === 'encoding') node.suffix = ` (${suffix})`;
      else return { k: 'name', s: `${print(node)} (${suffix})` };
    }
    if (this.pos !== this.s.length) this.fail();
    return node;
  }

  private encoding(topLevel: boolean): Node {
    this.enter();
    try {
      if (this.peek() === 'T' || (this.peek() === 'G' && /[VRAT]/.test(this.peek(1))))
        return this.specialName();
      const saveParams = this.templateParams;
      const name = this.name(true);
      const atEnd = this.pos >= this.s.length || this.peek() === 'E' || this.peek() === '.';
      if (atEnd) {
        if (!topLevel) this.templateParams = saveParams;
        return name;
      }
      const { cv, ref } = this.nameQualifiers;
      this.nameQualifiers = { cv: '', ref: '' };
      let ret: Node | undefined;
      if (isTemplate(name) && !isCtorDtorConversion(name)) ret = this.type();
      const params = this.bareFunctionParams();
      return { k: 'encoding', ret, name, params, cv, ref, suffix: '' };
    } finally {
      this.depth--;
    }
  }

  /** Member function qualifiers found in the last nested name (N [K][V][r][R|O] ...). */
  private nameQualifiers = { cv: '', ref: '' };

  private bareFunctionParams(): Node[] {
    const params: Node[] = [];
    while (this.pos < this.s.length && this.peek() !== 'E' && this.peek() !== '.') params.push(this.type());
    if (params.length === 0) this.fail();
    if (params.length === 1 && params[0].k === 'name' && params[0].s === 'void') return [];
    return params;
  }

  private specialName(): Node {
    const two = this.s.slice(this.pos, this.pos + 2);
    const simple: Record<string, string> = {
      TV: 'vtable for ',
      TT: 'VTT for ',
      TI: 'typeinfo for ',
      TS: 'typeinfo name for ',
    };
    if (simple[two]) {
      this.pos += 2;
      return { k: 'special', prefix: simple[two], child: this.type() };
    }
    if (two === 'Th' || two === 'Tv') {
      this.pos += 2;
      this.callOffset(two[1]);
      const prefix = two === 'Th' ? 'non-virtual thunk to ' : 'virtual thunk to ';
      return { k: 'special', prefix, child: this.encoding(false) };
    }
    if (two === 'Tc') {
      this.pos += 2;
      this.callOffset(this.s[this.pos++]);
      this.callOffset(this.s[this.pos++]);
      return { k: 'special', prefix: 'covariant return thunk to ', child: this.encoding(false) };
    }
    if (two === 'TC') {
      this.pos += 2;
      const first = this.type();
      this.number();
      this.expect('_');
      const second = this.type();
      return { k: 'name', s: `construction vtable for ${print(second)}-in-${print(first)}` };
    }
    if (two === 'TH' || two === 'TW') {
      this.pos += 2;
      const what = two === 'TH' ? 'initialization' : 'wrapper';
      return { k: 'special', prefix: `thread-local ${what} routine for `, child: this.name(false) };
    }
    if (two === 'GV') {
      this.pos += 2;
      return { k: 'special', prefix: 'guard variable for ', child: this.name(false) };
    }
    if (two === 'GR') {
      this.pos += 2;
      const child = this.name(false);
      let index = 0;
      if (this.peek() !== '_') index = parseBase36(this.seqId()) + 1;
      this.expect('_');
      return { k: 'special', prefix: `reference temporary #${index} for `, child };
    }
    if (two === 'GA') {
      this.pos += 2;
      return { k: 'special', prefix: 'hidden alias for ', child: this.encoding(false) };
    }
    if (this.consume('GTt') || this.consume('GTn')) {
      return { k: 'special', prefix: 'transaction clone for ', child: this.encoding(false) };
    }
    return this.fail();
  }

  private seqId(): string {
    const start = this.pos;
    while (/[0-9A-Z]/.test(this.peek())) this.pos++;
    return this.s.slice(start, this.pos);
  }

  private callOffset(kind: string): void {
    if (kind === 'h') {
      this.number();
      this.expect('_');
    } else if (kind === 'v') {
      this.number();
      this.expect('_');
      this.number();
      this.expect('_');
    } else this.fail();
  }

  private name(tagTemplates: boolean): Node {
    this.enter();
    try {
      const c = this.peek();
      if (c === 'N') return this.nestedName(tagTemplates);
      if (c === 'Z') return this.localName();
      let node: Node;
      if (c === 'S' && this.peek(1) !== 't') {
        node = this.substitution();
        if (this.peek() !== 'I') this.fail();
      } else {
        const std = this.consume('St');
        node = this.unqualifiedName(undefined);
        if (std) node = { k: 'nested', prefix: { k: 'name', s: 'std' }, name: node };
        if (this.peek() === 'I') this.subs.push(node);
      }
      if (this.peek() === 'I') {
        const args = this.templateArgs(tagTemplates);
        node = { k: 'template', name: node, args };
      }
      return node;
    } finally {
      this.depth--;
    }
  }

  private localName(): Node {
    this.expect('Z');
    const encoding = this.encoding(false);
    this.expect('E');
    if (this.consume('s')) {
      this.discriminator();
      return { k: 'local', encoding, entity: { k: 'name', s: 'string literal' } };
    }
    if (this.consume('d')) {
      if (this.peek() !== '_') this.number();
      this.expect('_');
    }
    const entity = this.name(false);
    this.discriminator();
    return { k: 'local', encoding, entity };
  }

  private discriminator(): void {
    if (this.peek() !== '_') return;
    if (this.peek(1) === '_') {
      this.pos += 2;
      this.digits();
      this.expect('_');
    } else if (/[0-9]/.test(this.peek(1))) {
      this.pos += 2;
    }
  }

  private nestedName(tagTemplates: boolean): Node {
    this.expect('N');
    let cv = '';
    if (this.consume('r')) cv = ' restrict' + cv;
    if (this.consume('V')) cv = ' volatile' + cv;
    if (this.consume('K')) cv = ' const' + cv;
    cv = reorderQuals(cv);
    let ref = '';
    if (this.consume('R')) ref = ' &';
    else if (this.consume('O')) ref = ' &&';
    let node: Node | undefined;
    while (!this.consume('E')) {
      if (this.pos >= this.s.length) this.fail();
      const c = this.peek();
      if (c === 'S' && this.peek(1) !== 't' && node === undefined) {
        node = this.substitution();
        continue;
      }
      if (this.consume('St')) {
        node = { k: 'name', s: 'std' };
        continue;
      }
      if (c === 'I') {
        if (!node) this.fail();
        node = { k: 'template', name: node, args: this.templateArgs(tagTemplates) };
        if (this.peek() !== 'E') this.subs.push(node);
        continue;
      }
      if (c === 'T') {
        node = this.templateParam();
        this.subs.push(node);
        continue;
      }
      if (c === 'D' && (this.peek(1) === 't' || this.peek(1) === 'T')) {
        node = this.decltype();
        this.subs.push(node);
        continue;
      }
      if (c === 'M') {
        // Closure scope prefix of a data member initializer: nothing to print.
        this.pos++;
        continue;
      }
      const component = this.unqualifiedName(node);
      node = node ? { k: 'nested', prefix: node, name: component } : component;
      if (this.peek() !== 'E') this.subs.push(node);
    }
    if (!node) this.fail();
    this.nameQualifiers = { cv, ref };
    return node;
  }

  private unqualifiedName(scope: Node | undefined): Node {
    const c = this.peek();
    let node: Node;
    if (c >= '0' && c <= '9') node = this.sourceName();
    else if (c === 'C' || (c === 'D' && /[0-9]/.test(this.peek(1)))) node = this.ctorDtor(scope);
    else if (c === 'U') node = this.unnamedType();
    else if (c === 'L') {
      this.pos++;
      node = this.sourceName();
      this.discriminator();
    } else if (c === 'D' && this.peek(1) === 'C') {
      this.pos += 2;
      const names: string[] = [];
      while (!this.consume('E')) names.push(print(this.sourceName()));
      node = { k: 'name', s: `[${names.join(', ')}]` };
    } else node = this.operatorName();
    while (this.peek() === 'B') {
      this.pos++;
      node = { k: 'abi', child: node, tag: print(this.sourceName()) };
    }
    return node;
  }

  private sourceName(): Node {
    const length = this.digits();
    if (length <= 0 || this.pos + length > this.s.length) this.fail();
    const id = this.s.slice(this.pos, this.pos + length);
    this.pos += length;
    if (id.startsWith('_GLOBAL__N')) return { k: 'name', s: '(anonymous namespace)' };
    return { k: 'name', s: id };
  }

  private ctorDtor(scope: Node | undefined): Node {
    if (!scope) this.fail();
    const dtor = this.peek() === 'D';
    this.pos++;
    if (!dtor && this.consume('I')) {
      this.pos++;
      this.type();
    } else this.pos++;
    return { k: 'ctor', base: scope, dtor };
  }

  private unnamedType(): Node {
    if (this.consume('Ut')) {
      const count = this.peek() === '_' ? '' : String(this.digits());
      this.expect('_');
      return { k: 'name', s: `'unnamed${count}'` };
    }
    if (this.consume('Ul')) {
      const saved = this.inLambdaParams;
      this.inLambdaParams = true;
      const params: Node[] = [];
      while (!this.consume('E')) params.push(this.type());
      this.inLambdaParams = saved;
      const count = this.peek() === '_' ? '' : String(this.digits());
      this.expect('_');
      const list = params.length === 1 && params[0].k === 'name' && params[0].s === 'void' ? [] : params;
      return { k: 'name', s: `'lambda${count}'(${list.map(print).join(', ')})` };
    }
    return this.fail();
  }

  private operatorName(): Node {
    if (this.consume('cv')) {
      return { k: 'conversion', type: this.type() };
    }
    if (this.consume('li')) return { k: 'name', s: `operator"" ${print(this.sourceName())}` };
    if (this.peek() === 'v' && /[0-9]/.test(this.peek(1))) {
      this.pos += 2;
      return { k: 'name', s: `operator ${print(this.sourceName())}` };
    }
    const code = this.s.slice(this.pos, this.pos + 2);
    const op = OPERATORS[code];
    if (!op) this.fail();
    this.pos += 2;
    const spelling = op[0];
    const needsSpace = /^[a-z]/.test(spelling);
    return { k: 'name', s: `operator${needsSpace ? ' ' : ''}${spelling}` };
  }

  private substitution(): Node {
    this.expect('S');
    const c = this.peek();
    if (STD_SUBSTITUTIONS[c]) {
      this.pos++;
      const [short, full, base] = STD_SUBSTITUTIONS[c];
      return { k: 'std', short, full, base };
    }
    let index = 0;
    if (c !== '_') index = parseBase36(this.seqId()) + 1;
    this.expect('_');
    const node = this.subs[index];
    if (!node) this.fail();
    return node;
  }

  private templateParam(): Node {
    this.expect('T');
    let index = 0;
    if (this.peek() !== '_') index = this.digits() + 1;
    this.expect('_');
    if (this.inLambdaParams) return { k: 'name', s: 'auto' };
    const node = this.templateParams[index];
    if (!node) this.fail();
    // A parameter that names a pack is what `Dp`/`sp` expansions iterate over.
    return node.k === 'pack' ? { k: 'parampack', items: node.items } : node;
  }

  private templateArgs(tag: boolean): Node[] {
    this.expect('I');
    const args: Node[] = [];
    const outer = this.templateParams;
    while (!this.consume('E')) {
      if (this.pos >= this.s.length) this.fail();
      args.push(this.templateArg());
    }
    this.templateParams = tag ? args : outer;
    return args;
  }

  private templateArg(): Node {
    const c = this.peek();
    if (c === 'X') {
      this.pos++;
      const e = this.expression();
      this.expect('E');
      return e;
    }
    if (c === 'L') return this.literal();
    if (c === 'J') {
      this.pos++;
      const items: Node[] = [];
      while (!this.consume('E')) {
        if (this.pos >= this.s.length) this.fail();
        items.push(this.templateArg());
      }
      return { k: 'pack', items };
    }
    return this.type();
  }

  private literal(): Node {
    this.expect('L');
    if (this.consume('_Z')) {
      const e = this.encoding(false);
      this.expect('E');
      return e;
    }
    if (this.consume('DnE')) return { k: 'name', s: 'nullptr' };
    if (this.consume('Dn0E')) return { k: 'name', s: 'nullptr' };
    const type = this.type();
    const typeName = print(type);
    if (this.peek() === 'E') {
      this.pos++;
      return { k: 'name', s: `(${typeName})` };
    }
    const start = this.pos;
    while (this.pos < this.s.length && this.peek() !== 'E') this.pos++;
    let value = this.s.slice(start, this.pos);
    this.expect('E');
    if (value.startsWith('n')) value = `-${value.slice(1)}`;
    const suffixes: Record<string, string> = {
      int: '',
      'unsigned int': 'u',
      long: 'l',
      'unsigned long': 'ul',
      'long long': 'll',
      'unsigned long long': 'ull',
    };
    if (typeName === 'bool') return { k: 'name', s: value === '0' ? 'false' : 'true' };
    if (typeName in suffixes) return { k: 'name', s: `${value}${suffixes[typeName]}` };
    return { k: 'name', s: `(${typeName})${value}` };
  }

  private decltype(): Node {
    this.expect('D');
    this.pos++;
    const e = this.expression();
    this.expect('E');
    return seq`decltype(${e})`;
  }

  private expression(): Node {
    this.enter();
    try {
      const c = this.peek();
      if (c === 'L') return this.literal();
      if (c === 'T') return this.templateParam();
      if (this.consume('fp')) {
        this.cvQualifiers();
        const n = this.peek() === '_' ? '' : String(this.digits());
        this.expect('_');
        return { k: 'name', s: `fp${n}` };
      }
      if (this.consume('fL')) {
        this.digits();
        this.expect('p');
        this.cvQualifiers();
        const n = this.peek() === '_' ? '' : String(this.digits());
        this.expect('_');
        return { k: 'name', s: `fp${n}` };
      }
      if (this.consume('sr')) return this.unresolvedName();
      if (this.consume('st')) return seq`sizeof (${this.type()})`;
      if (this.consume('sz')) return seq`sizeof (${this.expression()})`;
      if (this.consume('at')) return seq`alignof (${this.type()})`;
      if (this.consume('az')) return seq`alignof (${this.expression()})`;
      if (this.consume('sZ')) {
        const p = this.peek() === 'T' ? this.templateParam() : this.expression();
        return seq`sizeof...(${p})`;
      }
      if (this.consume('cl')) {
        const callee = this.expression();
        const args: Node[] = [];
        while (!this.consume('E')) {
          if (this.pos >= this.s.length) this.fail();
          args.push(this.expression());
        }
        return seq`${callee}(${list(args)})`;
      }
      if (this.consume('cv')) {
        const type = this.type();
        if (this.consume('_')) {
          const args: Node[] = [];
          while (!this.consume('E')) args.push(this.expression());
          return seq`(${type})(${list(args)})`;
        }
        return seq`(${type})(${this.expression()})`;
      }
      if (this.consume('dt') || this.consume('pt')) {
        const op = this.s[this.pos - 2] === 'd' ? '.' : '->';
        const object = this.expression();
        return seq`${object}${op}${this.unresolvedName()}`;
      }
      if (/[0-9]/.test(c)) {
        const name = this.sourceName();
        return this.peek() === 'I' ? { k: 'template', name, args: this.templateArgs(false) } : name;
      }
      if (this.consume('sp')) return { k: 'expansion', child: this.expression() };
      this.consume('gs');
      if (this.consume('nw') || this.consume('na')) return this.newExpression(this.s[this.pos - 1] === 'a');
      if (c === 'o' && this.peek(1) === 'n') {
        this.pos += 2;
        return this.operatorName();
      }
      const code = this.s.slice(this.pos, this.pos + 2);
      const op = OPERATORS[code];
      if (op && (op[1] === 1 || op[1] === 2 || op[1] === 3)) {
        this.pos += 2;
        if (op[1] === 1) return seq`${op[0]}(${this.expression()})`;
        const left = this.expression();
        const right = this.expression();
        if (op[1] === 3) return seq`(${left}) ? (${right}) : (${this.expression()})`;
        return seq`(${left}) ${op[0]} (${right})`;
      }
      return this.fail();
    } finally {
      this.depth--;
    }
  }

  private newExpression(isArray: boolean): Node {
    const placement: Node[] = [];
    while (!this.consume('_')) {
      if (this.pos >= this.s.length) this.fail();
      placement.push(this.expression());
    }
    const type = this.type();
    const parts: (string | Node)[] = [isArray ? 'new[] ' : 'new '];
    if (placement.length > 0) parts.push('(', list(placement), ')');
    parts.push(type);
    if (this.consume('pi')) {
      const inits: Node[] = [];
      while (!this.consume('E')) {
        if (this.pos >= this.s.length) this.fail();
        inits.push(this.expression());
      }
      parts.push('(', list(inits), ')');
    } else this.expect('E');
    return { k: 'seq', parts };
  }

  private unresolvedName(): Node {
    if (/[0-9]/.test(this.peek())) return this.sourceName();
    if (this.consume('on')) return this.operatorName();
    const qualifier = this.type();
    const name = this.sourceName();
    const withArgs =
      this.peek() === 'I' ? { k: 'template' as const, name, args: this.templateArgs(false) } : name;
    return { k: 'nested', prefix: qualifier, name: withArgs };
  }

  private cvQualifiers(): string {
    let quals = '';
    if (this.consume('r')) quals += ' restrict';
    if (this.consume('V')) quals += ' volatile';
    if (this.consume('K')) quals += ' const';
    return reorderQuals(quals);
  }

  type(): Node {
    this.enter();
    try {
      return this.typeInner();
    } finally {
      this.depth--;
    }
  }

  private typeInner(): Node {
    const c = this.peek();
    if (BUILTIN[c]) {
      this.pos++;
      return { k: 'name', s: BUILTIN[c] };
    }
    let node: Node;
    switch (c) {
      case 'r':
      case 'V':
      case 'K': {
        const quals = this.cvQualifiers();
        const child = this.type();
        node =
          child.k === 'func' ? { ...child, cv: reorderQuals(child.cv + quals) } : { k: 'qual', child, quals };
        break;
      }
      case 'P':
        this.pos++;
        node = { k: 'ptr', child: this.type(), op: '*' };
        break;
      case 'R':
      case 'O': {
        this.pos++;
        const child = this.type();
        node = { k: 'ptr', child, op: c === 'R' ? '&' : '&&' };
        break;
      }
      case 'C':
        this.pos++;
        node = { k: 'name', s: `${print(this.type())} _Complex` };
        break;
      case 'G':
        this.pos++;
        node = { k: 'name', s: `${print(this.type())} _Imaginary` };
        break;
      case 'F':
        node = this.functionType();
        break;
      case 'A':
        node = this.arrayType();
        break;
      case 'M': {
        this.pos++;
        const cls = this.type();
        const member = this.type();
        node = { k: 'memptr', cls, member };
        break;
      }
      case 'T': {
        if (/[sue]/.test(this.peek(1))) {
          this.pos += 2;
          node = this.name(false);
          break;
        }
        node = this.templateParam();
        this.subs.push(node);
        if (this.peek() === 'I') node = { k: 'template', name: node, args: this.templateArgs(false) };
        else return node;
        break;
      }
      case 'S': {
        if (this.peek(1) === 't') {
          node = this.name(false);
          break;
        }
        node = this.substitution();
        if (this.peek() !== 'I') return node;
        node = { k: 'template', name: node, args: this.templateArgs(false) };
        break;
      }
      case 'u':
        this.pos++;
        node = this.sourceName();
        break;
      case 'D':
        node = this.dType();
        if (node.k === 'name' && Object.values(BUILTIN_D).includes(node.s)) return node;
        break;
      default:
        node = this.name(false);
    }
    this.subs.push(node);
    return node;
  }

  private dType(): Node {
    const d = this.peek(1);
    if (BUILTIN_D[d]) {
      this.pos += 2;
      return { k: 'name', s: BUILTIN_D[d] };
    }
    if (d === 'F') {
      this.pos += 2;
      const bits = this.digits();
      this.expect('_');
      return { k: 'name', s: `_Float${bits}` };
    }
    if (d === 'p') {
      this.pos += 2;
      return { k: 'expansion', child: this.type() };
    }
    if (d === 't' || d === 'T') return this.decltype();
    if (d === 'v') {
      this.pos += 2;
      const dim = this.peek() === '_' ? '' : this.number();
      this.expect('_');
      return { k: 'vector', child: this.type(), dim };
    }
    if (d === 'x' || d === 'o' || d === 'O' || d === 'w') return this.functionType();
    return this.fail();
  }

  private functionType(): Node {
    // Exception specifications before F are dropped, as the demangled name does not need them.
    if (this.consume('Do') || this.consume('Dx')) {
      /* noexcept / transaction_safe */
    } else if (this.consume('DO')) {
      this.expression();
      this.expect('E');
    } else if (this.consume('Dw')) {
      while (!this.consume('E')) this.type();
    }
    this.expect('F');
    this.consume('Y');
    const ret = this.type();
    const params: Node[] = [];
    let ref = '';
    for (;;) {
      if (this.consume('E')) break;
      if (this.consume('RE')) {
        ref = ' &';
        break;
      }
      if (this.consume('OE')) {
        ref = ' &&';
        break;
      }
      if (this.pos >= this.s.length) this.fail();
      params.push(this.type());
    }
    const list = params.length === 1 && params[0].k === 'name' && params[0].s === 'void' ? [] : params;
    return { k: 'func', ret, params: list, cv: '', ref };
  }

  private arrayType(): Node {
    this.expect('A');
    let dim = '';
    if (/[0-9]/.test(this.peek())) dim = String(this.digits());
    else if (this.peek() !== '_') dim = print(this.expression());
    this.expect('_');
    return { k: 'array', child: this.type(), dim };
  }
}

function reorderQuals(quals: string): string {
  let out = '';
  if (quals.includes('const')) out += ' const';
  if (quals.includes('volatile')) out += ' volatile';
  if (quals.includes('restrict')) out += ' restrict';
  return out;
}

function parseBase36(id: string): number {
  let n = 0;
  for (const ch of id) n = n * 36 + (ch <= '9' ? ch.charCodeAt(0) - 48 : ch.charCodeAt(0) - 55);
  return n;
}

function isTemplate(node: Node): boolean {
  if (node.k === 'template') return true;
  if (node.k === 'nested') return isTemplate(node.name);
  if (node.k === 'abi') return isTemplate(node.child);
  if (node.k === 'local') return isTemplate(node.entity);
  return false;
}

function isCtorDtorConversion(node: Node): boolean {
  if (node.k === 'template') return isCtorDtorConversion(node.name);
  if (node.k === 'nested') return isCtorDtorConversion(node.name);
  if (node.k === 'abi') return isCtorDtorConversion(node.child);
  if (node.k === 'local') return isCtorDtorConversion(node.entity);
  return node.k === 'ctor' || node.k === 'conversion';
}

function hasFunction(node: Node): boolean {
  if (node.k === 'func') return true;
  if (node.k === 'qual') return hasFunction(node.child);
  return false;
}

function hasArray(node: Node): boolean {
  if (node.k === 'array') return true;
  if (node.k === 'qual') return hasArray(node.child);
  return false;
}

function hasRightPart(node: Node): boolean {
  return (
    hasFunction(node) ||
    hasArray(node) ||
    (node.k === 'ptr' && hasRightPart(node.child)) ||
    (node.k === 'memptr' && hasRightPart(node.member))
  );
}

class Out {
  text = '';
  /** While printing one element of a pack expansion: which element. */
  packIndex: number | undefined;
  add(s: string): void {
    this.text += s;
  }
  last(): string {
    return this.text[this.text.length - 1] ?? '';
  }
}

function printLeft(node: Node, out: Out): void {
  switch (node.k) {
    case 'name':
      out.add(node.s);
      return;
    case 'std':
      out.add(node.short);
      return;
    case 'nested':
      printLeft(node.prefix, out);
      out.add('::');
      printLeft(node.name, out);
      return;
    case 'template': {
      printLeft(node.name, out);
      out.add('<');
      printList(node.args, out);
      if (out.last() === '>') out.add(' ');
      out.add('>');
      return;
    }
    case 'qual':
      printLeft(node.child, out);
      out.add(node.quals);
      return;
    case 'ptr': {
      const { child, op } = resolvePointer(node, out);
      printLeft(child, out);
      if (hasArray(child)) out.add(' ');
      if (hasArray(child) || hasFunction(child)) out.add('(');
      out.add(op);
      return;
    }
    case 'array':
      printLeft(node.child, out);
      return;
    case 'func':
      if (node.ret) {
        printLeft(node.ret, out);
        out.add(' ');
      }
      return;
    case 'memptr':
      printLeft(node.member, out);
      if (hasArray(node.member) || hasFunction(node.member)) out.add('(');
      else out.add(' ');
      printLeft(node.cls, out);
      printRight(node.cls, out);
      out.add('::*');
      return;
    case 'pack':
    case 'parampack': {
      const saved = out.packIndex;
      out.packIndex = undefined;
      if (node.k === 'parampack' && saved !== undefined) {
        const item = node.items[saved];
        if (item) {
          printLeft(item, out);
          printRight(item, out);
        }
      } else printList(node.items, out);
      out.packIndex = saved;
      return;
    }
    case 'expansion':
      printExpansion(node.child, out);
      return;
    case 'seq':
      for (const part of node.parts) {
        if (typeof part === 'string') out.add(part);
        else {
          printLeft(part, out);
          printRight(part, out);
        }
      }
      return;
    case 'list':
      printList(node.items, out);
      return;
    case 'vector':
      printLeft(node.child, out);
      out.add(` vector[${node.dim}]`);
      return;
    case 'special':
      out.add(node.prefix);
      printLeft(node.child, out);
      printRight(node.child, out);
      return;
    case 'ctor': {
      if (node.dtor) out.add('~');
      out.add(baseName(node.base));
      return;
    }
    case 'conversion':
      out.add('operator ');
      printLeft(node.type, out);
      printRight(node.type, out);
      return;
    case 'abi':
      printLeft(node.child, out);
      out.add(`[abi:${node.tag}]`);
      return;
    case 'local':
      printLeft(node.encoding, out);
      printRight(node.encoding, out);
      out.add('::');
      printLeft(node.entity, out);
      return;
    case 'encoding': {
      if (node.ret) {
        printLeft(node.ret, out);
        if (!hasRightPart(node.ret)) out.add(' ');
      }
      printName(node.name, out);
      return;
    }
  }
}

/** A function's name; a `std::string` prefix of a constructor prints in full, as LLVM does. */
function printName(node: Node, out: Out): void {
  const inner = node.k === 'template' ? node.name : node;
  if (inner.k === 'nested' && inner.prefix.k === 'std' && inner.name.k === 'ctor') {
    out.add(`${inner.prefix.full}::`);
    printLeft(inner.name, out);
    if (node.k === 'template') printLeft({ k: 'template', name: { k: 'name', s: '' }, args: node.args }, out);
    return;
  }
  printLeft(node, out);
}

function printRight(node: Node, out: Out): void {
  switch (node.k) {
    case 'qual':
      printRight(node.child, out);
      return;
    case 'ptr': {
      const { child } = resolvePointer(node, out);
      if (hasArray(child) || hasFunction(child)) out.add(')');
      printRight(child, out);
      return;
    }
    case 'array':
      if (out.last() !== ']') out.add(' ');
      out.add(`[${node.dim}]`);
      printRight(node.child, out);
      return;
    case 'func':
      out.add('(');
      printList(node.params, out);
      out.add(')');
      if (node.ret) printRight(node.ret, out);
      out.add(node.cv);
      out.add(node.ref);
      return;
    case 'memptr':
      if (hasArray(node.member) || hasFunction(node.member)) out.add(')');
      printRight(node.member, out);
      return;
    case 'encoding':
      out.add('(');
      printList(node.params, out);
      out.add(')');
      if (node.ret) printRight(node.ret, out);
      out.add(node.cv);
      out.add(node.ref);
      out.add(node.suffix);
      return;
    default:
      return;
  }
}

/** The element of a pack being expanded, or the node itself. */
function packElement(node: Node, out: Out): Node {
  if (node.k === 'parampack' && out.packIndex !== undefined)
    return node.items[out.packIndex] ?? { k: 'name', s: '' };
  return node;
}

/** A pointer or reference with its pointee resolved (pack element) and references collapsed (& wins). */
function resolvePointer(node: Node & { k: 'ptr' }, out: Out): { child: Node; op: string } {
  let op: string = node.op;
  let child = packElement(node.child, out);
  if (op !== '*') {
    while (child.k === 'ptr' && child.op !== '*') {
      op = op === '&' || child.op === '&' ? '&' : '&&';
      child = packElement(child.child, out);
    }
  }
  return { child, op };
}

function findPackSize(node: Node, depth = 0): number | undefined {
  if (depth > 64) return undefined;
  if (node.k === 'parampack') return node.items.length;
  if (node.k === 'expansion') return undefined;
  const children: Node[] = [];
  for (const value of Object.values(node)) {
    if (value && typeof value === 'object') {
      if (Array.isArray(value))
        for (const v of value) if (v && typeof v === 'object') children.push(v as Node);
      if ('k' in value) children.push(value as Node);
    }
  }
  for (const child of children) {
    const size = findPackSize(child, depth + 1);
    if (size !== undefined) return size;
  }
  return undefined;
}

/** `Dp`/`sp`: print the pattern once per element of the pack it mentions, comma separated. */
function printExpansion(child: Node, out: Out): void {
  const size = findPackSize(child);
  if (size === undefined) {
    printLeft(child, out);
    printRight(child, out);
    return;
  }
  const saved = out.packIndex;
  for (let i = 0; i < size; i++) {
    if (i > 0) out.add(', ');
    out.packIndex = i;
    printLeft(child, out);
    printRight(child, out);
  }
  out.packIndex = saved;
}

function printList(nodes: Node[], out: Out): void {
  let first = true;
  for (const n of nodes) {
    const before = out.text.length;
    if (!first) out.add(', ');
    const start = out.text.length;
    printLeft(n, out);
    printRight(n, out);
    // An empty pack prints nothing: drop its separator too.
    if (out.text.length === start) out.text = out.text.slice(0, before);
    else first = false;
  }
}

function baseName(node: Node): string {
  switch (node.k) {
    case 'name':
      return node.s;
    case 'std':
      return node.base;
    case 'nested':
      return baseName(node.name);
    case 'template':
      return baseName(node.name);
    case 'abi':
      return baseName(node.child);
    default:
      return print(node);
  }
}

function print(node: Node): string {
  const out = new Out();
  printLeft(node, out);
  printRight(node, out);
  return out.text;
}

/** Demangle an Itanium C++ name (`_Z...`); undefined when it is not one or cannot be parsed. */
export function demangleItanium(name: string): string | undefined {
  if (!name.startsWith('_Z')) return undefined;
  try {
    return print(new ItaniumParser(name).mangled());
  } catch (error) {
    if (error instanceof DemangleError || error instanceof RangeError) return undefined;
    throw error;
  }
}
