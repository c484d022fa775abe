// The health layer: active health checks of every cluster's hosts, run once per cluster on the
// control thread, their verdicts pushed to the workers. (Being written: see issue 6.)
// Thread contract: control thread.
#pragma once
