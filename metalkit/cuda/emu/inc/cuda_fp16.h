#pragma once
typedef _Float16 __half;
static inline __half __float2half_rn(float x) { return (__half)x; }
static inline float __half2float(__half h) { return (float)h; }
