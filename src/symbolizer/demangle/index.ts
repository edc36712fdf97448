import { demangleItanium } from './itanium.ts';
import { demangleRustLegacy, demangleRustV0 } from './rust.ts';

export { demangleItanium } from './itanium.ts';
export { demangleRustLegacy, demangleRustV0 } from './rust.ts';

/**
 * Demangle a Rust (v0 or legacy) or Itanium C++ symbol. Names that are not mangled, or that we cannot
 * parse, come back unchanged: a raw symbol is still useful, a wrong guess is not.
 */
export function demangle(name: string): string {
  // A symbol version ("@GLIBCXX_3.4", "@@GLIBC_2.2.5") is kept as it is after the demangled name.
  const at = name.indexOf('@');
  if (at > 0) return demangleBare(name.slice(0, at)) + name.slice(at);
  return demangleBare(name);
}

function demangleBare(name: string): string {
  if (name.startsWith('_R')) return demangleRustV0(name) ?? name;
  if (name.startsWith('_Z')) return demangleRustLegacy(name) ?? demangleItanium(name) ?? name;
  return name;
}
