// The CPU kernels for ATen's DEFAULT capability, compiled with the baseline flags (always built).
#define CPU_CAPABILITY DEFAULT

#include "cpu/ms_deform_attn_cpu_kernels.h"
