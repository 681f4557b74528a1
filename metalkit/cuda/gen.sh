#!/bin/sh
# Compiles kernels.cu to kernels.ptx, the file the package embeds. Run it
# after changing kernels.cu, and commit both: users and CI build the Go
# package without a CUDA toolkit. PTX for sm_90 (H100/H200); the driver
# compiles it for the GPU at load time. nvcc's header names its version.
# With -check, compiles to a temporary file and fails if kernels.ptx differs.
set -eu
cd "$(dirname "$0")"
out=kernels.ptx
[ "${1:-}" = -check ] && out=$(mktemp)
nvcc -arch=sm_90 -ptx -O3 -o "$out" kernels.cu
if [ "${1:-}" = -check ]; then
	trap 'rm -f "$out"' EXIT
	if ! cmp -s "$out" kernels.ptx; then
		echo "metalkit/cuda: kernels.ptx is not nvcc's output for kernels.cu: run metalkit/cuda/gen.sh" >&2
		exit 1
	fi
fi
