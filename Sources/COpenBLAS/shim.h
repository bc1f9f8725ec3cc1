// OpenBLAS (Debian libopenblas-dev, pthread flavour): CBLAS plus the thread-count controls.
#include <cblas.h>
