#!/bin/sh
# Uniprof's entry point in the release archive. It runs the program on the Node.js runtime shipped beside it,
# so the machine needs no Node.js of its own. It follows symlinks, so it can be linked from a directory on the
# PATH (ln -s /opt/uniprof/bin/uniprof /usr/local/bin/), and needs no other tool unless it is one.
set -eu
case $0 in
  */*) self=$0 ;;
  *) self=./$0 ;;
esac
while [ -L "$self" ]; do
  target=$(readlink "$self")
  case $target in
    /*) self=$target ;;
    *) self=${self%/*}/$target ;;
  esac
done
root=${self%/*}/..
# V8 sizes the young generation by the machine's memory (much larger on Node 24 than on Node 20), and
# symbol range extraction's short-lived garbage fills all of it: extracting a 516 MB debug file peaked at
# 2.2x its largest DWARF section with the default and 1.6x with 8 MB semi-spaces, at the same CPU time
# (npm run bench:symbolizer-pipeline -- large). The extraction thread has its own bound (extract-thread-main.ts).
exec "$root/lib/node/bin/node" --max-semi-space-size=8 "$root/lib/uniprof/bin/uniprof.mjs" "$@"
