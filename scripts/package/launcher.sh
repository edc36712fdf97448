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
exec "$root/lib/node/bin/node" "$root/lib/uniprof/bin/uniprof.mjs" "$@"
