/** Demangle a C++ (Itanium) or Rust (legacy or v0) symbol; other names come back unchanged. */
export function demangle(name: string): string {
  return name;
}
