#!/bin/sh
# tests/readme_example.sh: the first C example of README.md compiles as C11
# and as C++ against this build and prints what the README says it prints.
# Run by make check (AM_TESTS_ENVIRONMENT gives the directories and the
# compiler flags of the build, sanitizers included).
set -eu
src=${GR_TOP_SRCDIR:?}
bld=${GR_TOP_BUILDDIR:?}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
awk '/^```c$/ { on = 1; next } /^```$/ { if (on) exit } on' "$src/README.md" > "$tmp/prog.c"
want=$(sed -n 's/^It prints `\(.*\)`.*/\1/p' "$src/README.md" | head -1)
[ -s "$tmp/prog.c" ] && [ -n "$want" ] || { echo "no example or no 'It prints' line in README.md"; exit 1; }
inc="-I$src/include -I$bld/include"
flags=$(echo " ${GR_TEST_CFLAGS:-} " | sed "s/ -std=[^ ]*//g")
lib="-L$bld/.libs -Wl,-rpath,$bld/.libs -lgoring"
${CC:-cc} -std=c11 -Wall -Wextra -Werror $flags $inc "$tmp/prog.c" $lib ${GR_TEST_LDFLAGS:-} -o "$tmp/prog"
got=$("$tmp/prog")
[ "$got" = "$want" ] || { echo "C: printed '$got', README says '$want'"; exit 1; }
if command -v "${CXX:-c++}" >/dev/null 2>&1; then
  cp "$tmp/prog.c" "$tmp/prog.cc"
  ${CXX:-c++} -Wall -Wextra -Werror $flags $inc "$tmp/prog.cc" $lib ${GR_TEST_LDFLAGS:-} -o "$tmp/progxx"
  got=$("$tmp/progxx")
  [ "$got" = "$want" ] || { echo "C++: printed '$got', README says '$want'"; exit 1; }
  echo "README example: C and C++ print '$want'"
else
  echo "README example: C prints '$want' (no C++ compiler here)"
fi
