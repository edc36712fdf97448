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
# The Node flags are scripts/package/node-flags.ts's (why: see there); the extraction thread has its own
# young-generation bound (extract-thread-main.ts).
exec "$root/lib/node/bin/node" --max-semi-space-size=8 --heap-growing-percent=100 "$root/lib/uniprof/bin/uniprof.mjs" "$@"
