// Layering probe (see tests/CMakeLists.txt): compiled with the upstream layer's include view,
// it must fail to build because proxy/forwarder.h is not found: upstream/ sits below proxy/.
#include "proxy/forwarder.h"
