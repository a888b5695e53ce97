// OpenSSL's libcrypto (Debian libssl-dev), for SHA-256 only: its assembly uses the CPU's
// SHA extensions, about ten times the speed of a portable implementation.
#include <openssl/evp.h>
