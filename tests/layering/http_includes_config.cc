// Layering probe (see tests/CMakeLists.txt): compiled with the http layer's include view,
// it must fail to build because config/model.h is not found: the codecs never see the config model.
#include "config/model.h"
