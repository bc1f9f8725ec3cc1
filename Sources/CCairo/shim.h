// Cairo (image and PDF surfaces) and Pango for text layout on Cairo (Debian libcairo2-dev,
// libpango1.0-dev). Imported by the Reporting target only, with `internal import`.
//
// Ownership: every cairo_*_create / pango_cairo_create_layout result is owned by the caller and
// released with its *_destroy / g_object_unref. A cairo_t and its surface are not thread-safe;
// Reporting creates one per figure and never shares it between tasks.
#include <cairo.h>
#include <cairo-pdf.h>
#include <pango/pangocairo.h>
