#!/bin/sh
# Writes the package's copyright file for the ksplice binary BIN: the
# project's own notice, then the license of Go and of every Go module
# statically linked into BIN (as `go version -m` lists them), read from the
# module cache. Licenses Debian ships in /usr/share/common-licenses are
# referred to there rather than copied.
set -eu
bin=$1
modcache=$(go env GOMODCACHE)
goroot=$(go env GOROOT)

indent() {
	sed -e 's/[[:space:]]*$//' -e 's/^$/./' -e 's/^/ /'
}

license() { # NAME FILE
	if grep -q 'Apache License' "$2" && grep -q 'Version 2.0' "$2"; then
		printf 'License: Apache-2.0\n On Debian systems the full text of the Apache License 2.0 is in\n /usr/share/common-licenses/Apache-2.0.\n'
	else
		printf 'License:\n'
		indent <"$2"
	fi
}

cat <<'HEAD'
ksplice: rebootless Linux kernel updates.
Source: https://github.com/ksplice-go/ksplice

Copyright: the ksplice authors.

The engine module's sources (/usr/share/ksplice/kmod-src) are licensed
under the GNU General Public License version 2, as the
SPDX-License-Identifier line of each file says. On Debian systems the full
text of the GNU General Public License version 2 is in
/usr/share/common-licenses/GPL-2.

/usr/bin/ksplice is a statically linked Go program. It contains the Go
runtime and standard library and the Go modules below, each under its own
license.

HEAD

printf 'Go %s (runtime and standard library)\n' "$(go env GOVERSION)"
license go "$goroot/LICENSE"
echo

go version -m "$bin" | awk '$1 == "dep" { print $2, $3 }' | while read -r mod ver; do
	# The module cache escapes upper case letters as '!' and the lower case.
	esc=$(printf '%s@%s' "$mod" "$ver" | sed 's/[A-Z]/!&/g' | tr 'A-Z' 'a-z')
	file=
	for f in "$modcache/$esc"/LICENSE* "$modcache/$esc"/COPYING*; do
		if [ -f "$f" ]; then
			file=$f
			break
		fi
	done
	if [ -z "$file" ]; then
		echo "copyright: no license file for $mod $ver in $modcache (go mod download)" >&2
		exit 1
	fi
	printf '%s %s\n' "$mod" "$ver"
	license "$mod" "$file"
	echo
done
