#!/bin/sh
# Compiles kernels.cu to kernels.ptx and deepseek4.cu to deepseek4.ptx, the
# files the package embeds (two modules, loaded side by side). Run it
# after changing a .cu, and commit both: users and CI build the Go
# package without a CUDA toolkit. PTX for sm_90 (H100/H200); the driver
# compiles it for the GPU at load time. nvcc's header names its version.
# With -check, compiles to temporary files and fails if a .ptx differs.
set -eu
cd "$(dirname "$0")"
for m in kernels deepseek4; do
	out=$m.ptx
	[ "${1:-}" = -check ] && out=$(mktemp)
	nvcc -arch=sm_90 -ptx -O3 -o "$out" $m.cu
	if [ "${1:-}" = -check ]; then
		if ! cmp -s "$out" $m.ptx; then
			rm -f "$out"
			echo "metalkit/cuda: $m.ptx is not nvcc's output for $m.cu: run metalkit/cuda/gen.sh" >&2
			exit 1
		fi
		rm -f "$out"
	fi
done
