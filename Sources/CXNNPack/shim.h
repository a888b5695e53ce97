// XNNPACK subgraph API and pthreadpool, from Debian's libxnnpack-dev and libpthreadpool-dev.
#pragma once
#include <xnnpack.h>
#include <pthreadpool.h>
