// Layering probe (see tests/CMakeLists.txt): compiled with the echo layer's include view,
// it must fail to build because proxy/worker.h is not found: echo/ is built beside the proxy's
// stack, not on it.
#include "proxy/worker.h"
