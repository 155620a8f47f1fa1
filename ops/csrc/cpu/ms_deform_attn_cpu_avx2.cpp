// The CPU kernels for ATen's AVX2 capability, compiled with -mavx2 -mfma -mf16c
// (setup.py, x86-64 only).
#define CPU_CAPABILITY AVX2
#define CPU_CAPABILITY_AVX2

#include "cpu/ms_deform_attn_cpu_kernels.h"
