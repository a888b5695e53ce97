// libxml2 headers used by the notifier and the mail sink (xmlTextWriter, xmlschemas).
#pragma once
// Debian's libxml2 is built with ICU, so its headers pull in the system <unicode/*.h>, whose
// definitions clash with the ICU copy inside Swift's Foundation ("UErrorCode has different
// definitions"). Nothing here uses libxml2's ICU converters, so hide them: only the tail of
// xmlCharEncodingHandler (never touched from Swift) depends on this macro.
#include <libxml/xmlversion.h>
#undef LIBXML_ICU_ENABLED
#include <libxml/xmlwriter.h>
#include <libxml/xmlschemas.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>

// xmlFree is a global function pointer (a macro in some builds), which Swift cannot call
// reliably; this wrapper can be.
static inline void cxml_free(void *pointer) {
    xmlFree(pointer);
}

// A structured error handler that drops the error: installed so that libxml2 never prints to
// standard error from library code (errors are read back with xmlCtxtGetLastError instead).
static inline void cxml_ignore_structured_error(void *context, xmlErrorPtr error) {
    (void)context;
    (void)error;
}

static inline void cxml_silence_errors_on_this_thread(void) {
    xmlSetStructuredErrorFunc(NULL, cxml_ignore_structured_error);
}
