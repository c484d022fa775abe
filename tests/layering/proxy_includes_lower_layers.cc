// Layering probe (see tests/CMakeLists.txt): compiled with the proxy layer's include view,
// it must build: a layer sees its own headers and those of every layer below it.
#include "base/result.h"
#include "config/model.h"
#include "http/message.h"
#include "proxy/worker.h"
#include "runtime/event_loop.h"
#include "upstream/cluster.h"
