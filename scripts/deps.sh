#!/bin/sh
# Installs what building and testing ksplice needs on a Debian 12 machine:
# Debian packages (only those missing) and the Go modules of go.mod.
# Runs apt-get as root, through sudo when not root.
# rustc (Debian's) builds the Rust test objects of testdata/rust.
# chromium-headless-shell renders the upgrade report in its test.
# ccache caches the kernel objects create compiles (internal/kbuild,
# CCacheEnv): its /usr/lib/ccache links are named as the compilers.
# minisign checks that ksplice's signatures and keys are minisign's own formats.
# lintian and file check the Debian package make deb builds (packaging/deb);
# jq runs the jq programs of the CI pipelines in docs/ci on ksplice's --json.
# qemu-user runs the arm64 kernel's own gcc (fetched by the lab) on an
# amd64 host; it registers nothing with binfmt_misc (its recommended
# qemu-user-binfmt would, and is not installed: --no-install-recommends).
set -eu

pkgs="
	bc bison flex cpio xz-utils zstd rsync patch kmod make gcc gcc-12
	lintian file jq
	libelf-dev libssl-dev dwarves
	qemu-system-x86 qemu-system-arm
	busybox-static
	gcc-aarch64-linux-gnu gcc-12-aarch64-linux-gnu binutils-aarch64-linux-gnu
	qemu-user
	rustc
	chromium-headless-shell
	minisign
	ccache
"

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"

# The lab fetches arm64 kernels and busybox (apt-get download PKG:arm64):
# apt must know the arm64 architecture and have its package lists.
update=""
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
	echo "deps: adding the arm64 architecture to dpkg (for arm64 lab kernels)"
	$sudo dpkg --add-architecture arm64
	update=1
fi

missing=""
for p in $pkgs; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing="$missing $p"
	fi
done

if [ -n "$missing" ] || [ -n "$update" ]; then
	$sudo apt-get update -q
fi
if [ -n "$missing" ]; then
	echo "deps: installing Debian packages:$missing"
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends $missing
fi

if ! command -v go >/dev/null 2>&1; then
	echo "deps: Go is not installed; install Go 1.26 or newer (https://go.dev/doc/install)" >&2
	exit 1
fi
go mod download
