// The CPU kernels for ATen's AVX512 capability, compiled with -mavx512f -mavx512bw
// -mavx512vl -mavx512dq -mfma -mf16c (setup.py, x86-64 only).
#define CPU_CAPABILITY AVX512
#define CPU_CAPABILITY_AVX512

#include "cpu/ms_deform_attn_cpu_kernels.h"
