/**
 * The flags Uniprof's launchers start Node.js with: the release archive's (scripts/package/launcher.sh, which
 * the .deb, .rpm and container image use) and `npm start`. The benches and the soak start what they measure
 * with them too, so their figures are an installed Uniprof's (test/packaging/node-flags.test.ts keeps the
 * three in step).
 *
 * V8 sizes the young generation by the machine's memory (much larger on Node 24 than on Node 20), and both
 * symbol range extraction's and a cold fleet's short-lived garbage fill all of it: with 8 MB semi-spaces,
 * extracting a 516 MB debug file peaked at 1.6× its largest DWARF section instead of 2.2× at the same CPU time,
 * and the collector's cold pass (`npm run bench:ingest`) at about 100 MiB less (532–543 against 632–647 MiB)
 * for up to about a tenth more CPU there. After a full collection V8 lets the old generation grow by a factor
 * it picks from the collector's speed, up to 4×, while a cold fleet's live heap is only some 60 MB: a fixed 2×
 * (`--heap-growing-percent=100`) brought the cold pass's peak from 516–549 to 422–449 MiB, for about 4 % more
 * CPU there and a steady state within the machine's noise, perhaps up to 8 % slower (docs/otlp-profiles.md);
 * extracting that 516 MB file then peaks at 1.45–1.49× instead of about 2×, for about a fifth more CPU
 * (docs/symbolizer.md).
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=8', '--heap-growing-percent=100'];
