// libxml2 headers used by the notifier and the mail sink (xmlTextWriter, xmlschemas).
#pragma once
#include <libxml/xmlwriter.h>
#include <libxml/xmlschemas.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
