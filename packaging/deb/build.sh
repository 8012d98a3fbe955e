#!/bin/sh
# Builds the ksplice Debian package with dpkg-deb from what make has built:
#
#   build.sh OUT.deb BIN GENDOCS VERSION ARCH UNIT
#
# BIN is the statically linked ksplice, GENDOCS the ksplice-gendocs built
# with it (man pages and completion come from the command tree), VERSION the
# Debian version, ARCH the Debian architecture, UNIT the systemd unit file.
# The tree is staged in a temporary directory, owned by root in the archive
# (--root-owner-group: no fakeroot needed), with the mtimes of
# $SOURCE_DATE_EPOCH, so that one commit builds the same package twice.
set -eu

if [ $# -ne 6 ]; then
	echo "usage: $0 OUT.deb BIN GENDOCS VERSION ARCH UNIT" >&2
	exit 2
fi
out=$1 bin=$2 gendocs=$3 version=$4 arch=$5 unit=$6
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
maintainer=${DEB_MAINTAINER:-ksplice maintainers <ksplice@users.noreply.github.com>}
: "${SOURCE_DATE_EPOCH:=$(git -C "$top" log -1 --format=%ct 2>/dev/null || date +%s)}"
export SOURCE_DATE_EPOCH

if [ ! -f "$unit" ]; then
	echo "deb: the systemd unit $unit is missing (it comes with apply --boot)" >&2
	exit 1
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/root
doc=$root/usr/share/doc/ksplice
mkdir -p "$root/DEBIAN" "$root/usr/bin" "$doc" "$root/usr/share/man/man1" \
	"$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
	"$root/lib/systemd/system" "$root/usr/share/ksplice" "$root/usr/share/lintian/overrides"

install -m 0755 "$bin" "$root/usr/bin/ksplice"

# The engine's sources, as make install puts them: create builds the engine
# for each target kernel from /usr/share/ksplice/kmod-src.
make -s -C "$top" install-kmod-src DESTDIR="$root" PREFIX=/usr

install -m 0644 "$unit" "$root/lib/systemd/system/ksplice.service"

"$gendocs" -man "$stage/man" -completion "$stage/completion"
for f in "$stage"/man/*.1; do
	install -m 0644 "$f" "$root/usr/share/man/man1/"
done
gzip -9n "$root"/usr/share/man/man1/*.1
install -m 0644 "$stage/completion/ksplice" "$root/usr/share/bash-completion/completions/ksplice"
install -m 0644 "$stage/completion/_ksplice" "$root/usr/share/zsh/vendor-completions/_ksplice"

# A native package's changelog is changelog.gz.
date=$(date -u -R -d "@$SOURCE_DATE_EPOCH")
commit=$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo unknown)
printf 'ksplice (%s) unstable; urgency=medium\n\n  * Built from commit %s.\n\n -- %s  %s\n' \
	"$version" "$commit" "$maintainer" "$date" >"$stage/changelog"
gzip -9nc "$stage/changelog" >"$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"

"$here/copyright.sh" "$bin" >"$doc/copyright"
chmod 0644 "$doc/copyright"

install -m 0644 "$here/lintian-overrides" "$root/usr/share/lintian/overrides/ksplice"
install -m 0755 "$here/postinst" "$here/postrm" "$root/DEBIAN/"
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort | xargs md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s|@VERSION@|$version|" -e "s|@ARCH@|$arch|" -e "s|@MAINTAINER@|$maintainer|" -e "s|@SIZE@|$size|" \
	"$here/control.in" >"$root/DEBIAN/control"

find "$root" -type d -exec chmod 0755 {} +
find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mkdir -p "$(dirname "$out")"
dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
echo "deb: $out"
