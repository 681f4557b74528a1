#!/bin/sh
# Compiles kernels.cu to kernels.ptx and deepseek4.cu to deepseek4.ptx, the
# files the package embeds (two modules, loaded side by side). Run it
# after changing a .cu, and commit both: users and CI build the Go
# package without a CUDA toolkit. PTX for sm_90 (H100/H200); the driver
# compiles it for the GPU at load time. nvcc's header names its version.
# With -check, compiles to temporary files and fails if a .ptx differs.
#
# nvcc 11.8's output for kernels.cu depends on where its heap lands (the
# tensor-core kernels' register numbering changes with the address layout,
# which moves with the environment's and the working directory's sizes), so
# it runs with address randomisation off where setarch can do that, in a
# directory of a fixed name, with a fixed environment and the same
# arguments in both modes: the same input then gives the same bytes from
# any checkout, which -check relies on.
set -eu
cd "$(dirname "$0")"
nvcc=$(command -v nvcc)
nvcc_fixed() {
	if setarch "$(uname -m)" -R true 2>/dev/null; then
		env -i PATH=/usr/bin:/bin HOME=/ setarch "$(uname -m)" -R "$nvcc" "$@"
	else
		env -i PATH=/usr/bin:/bin HOME=/ "$nvcc" "$@"
	fi
}
src=$PWD
work=${TMPDIR:-/tmp}/reddwarf-gen-ptx.$(id -u)
rm -rf "$work"
mkdir -p "$work"
trap 'rm -rf "$work"' EXIT
for m in kernels deepseek4; do
	cp "$src/$m.cu" "$work/m.cu"
	(cd "$work" && nvcc_fixed -arch=sm_90 -ptx -O3 -o m.ptx m.cu)
	if [ "${1:-}" = -check ]; then
		if ! cmp -s "$work/m.ptx" "$src/$m.ptx"; then
			echo "metalkit/cuda: $m.ptx is not nvcc's output for $m.cu: run metalkit/cuda/gen.sh" >&2
			exit 1
		fi
	else
		cp "$work/m.ptx" "$src/$m.ptx"
	fi
done
