// Non-variadic wrappers around curl_easy_setopt / curl_easy_getinfo / curl_multi_setopt.
#pragma once
#include <curl/curl.h>
