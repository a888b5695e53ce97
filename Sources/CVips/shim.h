// Non-variadic wrappers around libvips calls Swift cannot make directly.
#pragma once
#include <vips/vips.h>
