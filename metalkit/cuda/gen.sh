#!/bin/sh
# Compiles kernels.cu to kernels.ptx and deepseek4.cu to deepseek4.ptx, the
# files the package embeds (two modules, loaded side by side). Run it
# after changing a .cu, and commit both: users and CI build the Go
# package without a CUDA toolkit. PTX for sm_90 (H100/H200); the driver
# compiles it for the GPU at load time. nvcc's header names its version.
# With -check, compiles to temporary files and fails if a .ptx differs.
#
# nvcc 11.8's output for kernels.cu depends on where its heap lands (the
# tensor-core kernels' register numbering changes from run to run), so it
# runs with address randomisation off where setarch can do that, and with
# the same arguments in both modes (a file of the same name in a fresh
# temporary directory): the same input then gives the same bytes, which
# -check relies on.
set -eu
cd "$(dirname "$0")"
nvcc_fixed() {
	if setarch "$(uname -m)" -R true 2>/dev/null; then
		setarch "$(uname -m)" -R nvcc "$@"
	else
		nvcc "$@"
	fi
}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for m in kernels deepseek4; do
	nvcc_fixed -arch=sm_90 -ptx -O3 -o "$tmp/$m.ptx" $m.cu
	if [ "${1:-}" = -check ]; then
		if ! cmp -s "$tmp/$m.ptx" $m.ptx; then
			echo "metalkit/cuda: $m.ptx is not nvcc's output for $m.cu: run metalkit/cuda/gen.sh" >&2
			exit 1
		fi
	else
		cp "$tmp/$m.ptx" $m.ptx
	fi
done
