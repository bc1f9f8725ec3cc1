// Umbrella header of the CKernels module: our own CPU kernels in C (see each header).
#include "cxr_gemm.h"
#include "cxr_pool.h"
#include "cxr_winograd.h"
