// Layering probe (see tests/CMakeLists.txt): compiled with the proxy layer's include view,
// it must fail to build because server/server.h is not found: proxy/ sits below server/.
#include "server/server.h"
